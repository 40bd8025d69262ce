"""Scale-out: drain throughput of two consumer processes in one consumer group vs one, on 4 partitions.

Per run (fresh database, fresh group): the group's offsets are set to the end of every topic, the 1 or 2
processes are started, and once the group is stable with the KeyValidated partitions spread over all of
them, `scaling_events` new events are published (about 0.3 s for 5,000) and drained. Throughput and CPU
(summed over the processes) are taken from 10 % to 100 % of the committed offsets, as in the drain phase.
Runs interleave: B1 x1, B1 x2, S x1, S x2 in odd repetitions, the reverse in even ones.

The machine has only 2 CPUs, shared by the consumers, Kafka, PostgreSQL and this harness: a second
process can only add what the first leaves idle (waiting on Kafka and PostgreSQL round trips). Seen here
(B1 as well as S): a process holding 2 partitions spends less CPU per event than one holding all 4, so the
ratio can come out above 2.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from local_infra.postgres import temporary_database
from shared.delivery import to_kafka

from . import baseline
from .harness import LOGS, PARTITIONS, Consumer, Infra, Results, cell, grid, measure_drain, new_events, stats

if TYPE_CHECKING:
    from .harness import Config

GOAL = 1.2  # reference G8: 2 consumers >= 1.2 x 1 consumer, on 2 cores shared with the broker and PostgreSQL
COUNTS = (1, 2)


async def wait_spread(infra: Infra, group: str, members: list[Consumer], timeout: float = 90) -> None:
    """Until the group is Stable and every process holds some of the partitions (all of them held)."""
    deadline = time.monotonic() + timeout
    state, held = "", []
    while time.monotonic() < deadline:
        for m in members:
            if not m.alive():
                raise RuntimeError(f"{m.variant} exited early; see {LOGS / m.name}.log")
        state, held = await infra.assignment(group)
        if state == "Stable" and len(held) == len(members) and sum(map(len, held)) == PARTITIONS:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"group {group} not spread over {len(members)} process(es) in {timeout:.0f}s: "
                       f"{state} {held}")


async def one_run(infra: Infra, cfg: Config, variant: str, count: int, rep: int) -> dict[str, float]:
    tag = f"{variant.lower()}_{rep}_{count}_{uuid.uuid4().hex[:6]}"
    group = f"bench-{tag}-scale"
    records = [to_kafka(e) for e in new_events(cfg.scaling_events, tag)]
    async with temporary_database(infra.admin_dsn, prefix=f"bench_scale_{variant.lower()}") as dsn:
        if variant != "S":
            await baseline.create_schema(dsn)
        await infra.set_group_to_end(group, await infra.all_topics())
        members = [Consumer(infra, variant, dsn, group, name=f"{group}-{i}") for i in range(1, count + 1)]
        try:
            await wait_spread(infra, group, members)
            base = await infra.committed(group)
            futures = [await infra.producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records]
            await asyncio.gather(*futures)
            return await measure_drain(infra, members, len(records), 60 + len(records) / 20, base=base)
        finally:
            for m in members:
                m.stop()


async def run(infra: Infra, cfg: Config, results: Results, say: Callable[[str], None]) -> None:
    say(f"scaling: {cfg.scaling_events} new events per run; 1 vs 2 processes in one group, "
        f"{PARTITIONS} partitions, {os.cpu_count()} CPUs")
    order = [(variant, count) for variant in cfg.scaling_variants for count in COUNTS]
    for rep in range(1, cfg.reps + 1):
        for variant, count in order if rep % 2 else reversed(order):  # ABBA: a drift hits both sides alike
            figures = await one_run(infra, cfg, variant, count, rep)
            results.add("scale_throughput", f"{variant} x{count}", figures["throughput"])
            results.add("scale_cpu_per_1k", f"{variant} x{count}", figures["cpu_per_1k"])
            say(f"  rep {rep} {variant:2} x{count} {figures['throughput']:8.1f} ev/s "
                f"{figures['cpu_per_1k']:6.2f} cpu-s/1k (sum over the processes)")


def summarise(results: Results, cfg: Config) -> dict | None:
    tput, cpu = results.figures.get("scale_throughput"), results.figures.get("scale_cpu_per_1k")
    if not tput:
        return None
    rows = []
    for variant in cfg.scaling_variants:
        one, two = tput.get(f"{variant} x1"), tput.get(f"{variant} x2")
        if not one or not two:
            continue
        paired = [b / a for a, b in zip(one, two, strict=False)]
        ratio = statistics.median(two) / statistics.median(one)
        rows.append({"variant": variant, "throughput_1": stats(one), "throughput_2": stats(two),
                     "cpu_per_1k_1": stats(cpu[f"{variant} x1"]), "cpu_per_1k_2": stats(cpu[f"{variant} x2"]),
                     "ratio_2_over_1": ratio, "paired_ratios": stats(paired),
                     "goal": f"2/1 >= {GOAL:g} (ref. G8)", "met": ratio >= GOAL})
    return {"events_per_run": cfg.scaling_events, "partitions": PARTITIONS, "cpus": os.cpu_count(),
            "note": f"only {os.cpu_count()} CPUs, shared by the consumers, Kafka, PostgreSQL and the harness",
            "rows": rows}


def table(report: dict) -> str | None:
    section = report.get("scaling")
    if not section or not section["rows"]:
        return None
    head = ["scale-out", "1 consumer ev/s", "2 consumers ev/s", "2/1 (medians)", "2/1 paired [range]",
            "CPU/1k x1 cpu-s", "CPU/1k x2 cpu-s", "goal", "met"]
    body = [[r["variant"], cell(r["throughput_1"]), cell(r["throughput_2"]), f"{r['ratio_2_over_1']:.2f}",
             cell(r["paired_ratios"]), cell(r["cpu_per_1k_1"]), cell(r["cpu_per_1k_2"]), r["goal"],
             "yes" if r["met"] else "NO"] for r in section["rows"]]
    note = (f"scale-out: {section['events_per_run']} events on {section['partitions']} partitions, one consumer "
            f"group, 1 vs 2 processes; NOTE: this machine has only {section['cpus']} CPUs, shared by the "
            f"consumers, Kafka, PostgreSQL and the harness")
    return "\n".join([note, *grid(head, body)])
