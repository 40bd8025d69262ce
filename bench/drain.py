"""B0, B1 and S (the real connection_registry process), interleaved, on the pre-filled KeyValidated topic.

Per repetition and variant, on a fresh database and a fresh consumer group:
- drain: the pre-filled KeyValidated topic; throughput and CPU-seconds per 1,000 events are taken between
  10 % and 100 % of the committed offsets (the first 10 % is warm-up); RSS at the end;
- dup: a second process (new group, same database) drains the same events again: 100 % duplicates;
- latency (full mode): open-loop producer at half of B1's median drain throughput; latency = the record's
  ce_time (set at send) -> delivery_inbox.processed_at (PostgreSQL now() of the effect's transaction);
- idle: CPU % of the consumer process over a quiet window after the latency phase.
CPU is utime+stime of the consumer process from /proc/<pid>/stat.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable

from local_infra.postgres import temporary_database

from . import baseline
from .harness import (
    TOPIC,
    Config,
    Consumer,
    Infra,
    Results,
    cell,
    grid,
    idle_cpu,
    measure_drain,
    measure_latency,
    new_events,
    rss_mb,
    stats,
)

VARIANTS = ("B0", "B1", "S")


async def run(infra: Infra, cfg: Config, results: Results, say: Callable[[str], None]) -> int:
    """Pre-fill the topic, then drain it (and its duplicates) with each variant; the number of events."""
    say(f"pre-filling {TOPIC} with {cfg.events} KeyValidated events")
    await infra.publish(new_events(cfg.events, uuid.uuid4().hex[:8]))
    sizes = await infra.end_offsets()
    total = sum(sizes.values())
    say(f"topic holds {total} events in {len(sizes)} partitions: {sorted(sizes.values())}")
    for rep in range(1, cfg.reps + 1):
        for variant in VARIANTS:
            await one_variant(infra, cfg, variant, rep, total, results, say)
    return total


async def run_latency(infra: Infra, cfg: Config, results: Results, say: Callable[[str], None]) -> None:
    """Latency and idle CPU of each variant at half of B1's median drain throughput (needs `run` first)."""
    b1 = statistics.median(results.figures["throughput"]["B1"])
    rate = b1 / 2
    say(f"latency at {rate:.0f} events/s (half of B1's median drain throughput)")
    for rep in range(1, cfg.reps + 1):
        for variant in VARIANTS:
            await _latency_only(infra, cfg, variant, rep, results, rate, say)


async def one_variant(infra: Infra, cfg: Config, variant: str, rep: int, total: int, results: Results,
                      say: Callable[[str], None]) -> None:
    tag = f"{variant.lower()}_{rep}_{uuid.uuid4().hex[:6]}"
    async with temporary_database(infra.admin_dsn, prefix=f"bench_{variant.lower()}") as dsn:
        if variant != "S":
            await baseline.create_schema(dsn)
        timeout = 60 + total / 20
        for phase in ("drain", "dup"):
            consumer = Consumer(infra, variant, dsn, f"bench-{tag}-{phase}")
            try:
                figures = await measure_drain(infra, consumer, total, timeout)
            finally:
                consumer.stop()
            for name, value in figures.items():
                results.add(f"{phase}_{name}" if phase == "dup" else name, variant, value)
            say(f"  rep {rep} {variant:2} {phase:5} {figures['throughput']:8.1f} ev/s "
                f"{figures['cpu_per_1k']:6.2f} cpu-s/1k  {figures['rss_mb']:6.1f} MB")


async def _latency_only(infra: Infra, cfg: Config, variant: str, rep: int, results: Results, rate: float,
                        say: Callable[[str], None]) -> None:
    tag = f"{variant.lower()}_{rep}_{uuid.uuid4().hex[:6]}"
    async with temporary_database(infra.admin_dsn, prefix=f"bench_{variant.lower()}") as dsn:
        if variant != "S":
            await baseline.create_schema(dsn)
        group = f"bench-{tag}-lat"
        await infra.set_group_to_end(group)
        consumer = Consumer(infra, variant, dsn, group)
        try:
            lat = await measure_latency(infra, consumer, dsn, rate, cfg.latency_events, tag)
            idle = await idle_cpu(consumer, cfg.idle_seconds)
            rss = rss_mb(consumer.pid)
        finally:
            consumer.stop()
    results.add("p50_ms", variant, lat["p50_ms"])
    results.add("p99_ms", variant, lat["p99_ms"])
    results.add("idle_cpu_pct", variant, idle)
    results.add("steady_rss_mb", variant, rss)
    say(f"  rep {rep} {variant:2} lat   p50 {lat['p50_ms']:.1f} ms p99 {lat['p99_ms']:.1f} ms; "
        f"idle {idle:.2f} % CPU; RSS {rss:.0f} MB")


METRICS = [  # name, label, unit (the goals are in _goal)
    ("throughput", "drain throughput", "ev/s"),
    ("cpu_per_1k", "CPU per 1k events", "cpu-s"),
    ("rss_mb", "RSS after drain", "MB"),
    ("dup_throughput", "throughput, 100% duplicates", "ev/s"),
    ("dup_cpu_per_1k", "CPU per 1k duplicates", "cpu-s"),
    ("p50_ms", "latency p50 @ B1/2", "ms"),
    ("p99_ms", "latency p99 @ B1/2", "ms"),
    ("idle_cpu_pct", "CPU in the 10 s after the latency load", "%"),  # the idle goal: bench.idle's table
    ("steady_rss_mb", "RSS at steady state", "MB"),
]


def _goal(name: str, med: dict[str, float]) -> tuple[str, bool] | None:
    s, b1 = med.get("S"), med.get("B1")
    if s is None or b1 is None:
        return None
    if name == "throughput":
        return "S >= 0.9 x B1", s >= 0.9 * b1
    if name == "cpu_per_1k":
        return "S <= 1.2 x B1", s <= 1.2 * b1
    if name == "p99_ms":
        return "S <= 1.3 x B1 + 3 ms", s <= 1.3 * b1 + 3
    if name == "dup_throughput" and "throughput" in med:
        return "S >= 2 x S drain", s >= 2 * med["throughput"]
    return None


def summarise(results: Results) -> list[dict]:
    """The report's `rows`: one per metric measured, B0, B1 and S side by side, with the goal if it has one."""
    rows = []
    drain_s = statistics.median(results.figures["throughput"]["S"]) if "throughput" in results.figures else None
    for name, label, unit in METRICS:
        per = results.figures.get(name)
        if not per:
            continue
        med = {v: statistics.median(xs) for v, xs in per.items()}
        if name == "dup_throughput" and drain_s is not None:
            med_for_goal = med | {"throughput": drain_s}
        else:
            med_for_goal = med
        goal = _goal(name, med_for_goal)
        rows.append({"metric": name, "label": label, "unit": unit,
                     "values": {v: stats(xs) for v, xs in per.items()},
                     "S_over_B1": med["S"] / med["B1"] if med.get("B1") else None,
                     "S_over_B0": med["S"] / med["B0"] if med.get("B0") else None,
                     "goal": goal[0] if goal else None, "met": goal[1] if goal else None})
    return rows


def table(report: dict) -> str | None:
    if not report.get("rows"):
        return None
    head = ["metric", "unit", "B0 median [range]", "B1 median [range]", "S median [range]", "S/B1", "S/B0",
            "goal", "met"]
    body = []
    for r in report["rows"]:
        vals = r["values"]
        body.append([r["label"], r["unit"], cell(vals.get("B0")), cell(vals.get("B1")), cell(vals.get("S")),
                     f"{r['S_over_B1']:.2f}" if r["S_over_B1"] is not None else "-",
                     f"{r['S_over_B0']:.2f}" if r["S_over_B0"] is not None else "-",
                     r["goal"] or "", {True: "yes", False: "NO", None: ""}[r["met"]]])
    note = (f"{report['events']} events, {report['partitions']} partitions, {report['repetitions']} repetition(s), "
            f"{report['cpus']} CPUs; B0/B1/S interleaved; throughput and CPU from 10 % to 100 % of the drain")
    return "\n".join([note, *grid(head, body)])
