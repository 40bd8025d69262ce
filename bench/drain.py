"""B0, B1, B2 and S (the real connection_registry process), interleaved, on the pre-filled KeyValidated topic
(the baselines: bench.baseline; B1 commits each event, B2 each partition's batch, in one transaction).

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

VARIANTS = ("B0", "B1", "B2", "S")
BASES = ("B1", "B2", "B0")  # the ratios S/B printed, in this order


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


GOALS: dict[str, tuple[str, Callable[[dict[str, float]], bool]]] = {  # issue #22's goals, as ratios in one run
    "throughput": ("S >= 1.0 x B1 and >= 0.8 x B2", lambda v: v["S"] >= v["B1"] and v["S"] >= 0.8 * v["B2"]),
    "cpu_per_1k": ("S <= 1.0 x B1", lambda v: v["S"] <= v["B1"]),
    "p99_ms": ("S <= 1.3 x B1 + 3 ms", lambda v: v["S"] <= 1.3 * v["B1"] + 3),
    "dup_throughput": ("S >= 2 x S drain", lambda v: v["S"] >= 2 * v["drain"]),
}


def _goal(name: str, per: dict[str, list[float]], drain_s: list[float] | None) -> dict | None:
    """The goal of metric `name` on the medians, and in how many repetitions (paired by index) it was missed:
    §C's protocol fails a goal only when the median misses and most paired runs miss too."""
    if name not in GOALS:
        return None
    label, check = GOALS[name]
    runs = per | ({"drain": drain_s} if drain_s else {})
    try:
        met = check({v: statistics.median(xs) for v, xs in runs.items()})
        paired = min(len(xs) for xs in runs.values())
        missed = sum(not check({v: xs[i] for v, xs in runs.items()}) for i in range(paired))
    except KeyError:  # a variant the goal compares was not measured
        return None
    return {"goal": label, "met": met, "missed_runs": f"{missed}/{paired}"}


def summarise(results: Results) -> list[dict]:
    """The report's `rows`: one per metric measured, the variants side by side, S's ratios to each baseline,
    with the goal if it has one."""
    rows = []
    drain_s = results.figures.get("throughput", {}).get("S")
    for name, label, unit in METRICS:
        per = results.figures.get(name)
        if not per:
            continue
        med = {v: statistics.median(xs) for v, xs in per.items()}
        goal = _goal(name, per, drain_s if name == "dup_throughput" else None) or {}
        ratios = {f"S_over_{b}": med["S"] / med[b] if "S" in med and med.get(b) else None for b in BASES}
        rows.append({"metric": name, "label": label, "unit": unit,
                     "values": {v: stats(xs) for v, xs in per.items()}, **ratios,
                     "goal": goal.get("goal"), "met": goal.get("met"), "missed_runs": goal.get("missed_runs")})
    return rows


def table(report: dict) -> str | None:
    if not report.get("rows"):
        return None
    variants = [v for v in VARIANTS if any(v in r["values"] for r in report["rows"])]
    bases = [b for b in BASES if b in variants]
    head = ["metric", "unit", *(f"{v} median [range]" for v in variants), *(f"S/{b}" for b in bases),
            "goal", "met (runs missed)"]
    body = []
    for r in report["rows"]:
        vals = r["values"]
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        if r.get("missed_runs"):
            met += f" ({r['missed_runs']})"
        body.append([r["label"], r["unit"], *(cell(vals.get(v)) for v in variants),
                     *(f"{r[f'S_over_{b}']:.2f}" if r.get(f"S_over_{b}") is not None else "-" for b in bases),
                     r["goal"] or "", met])
    note = (f"{report['events']} events, {report['partitions']} partitions, {report['repetitions']} repetition(s), "
            f"{report['cpus']} CPUs; {', '.join(variants)} interleaved; throughput and CPU from 10 % to 100 % of "
            "the drain; B1 one transaction per event, B2 one per partition batch")
    return "\n".join([note, *grid(head, body)])
