"""The phases of a benchmark run, in order, and the one report their sections make up.

The only module that knows every phase: the phase modules (bench.drain, bench.idle, bench.scaling,
bench.lifecycle, bench.journey, bench.proxy) build on bench.harness and never on each other or on this one,
so bench has no import cycle.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from . import delivery, drain, idle, journey, lifecycle, proxy, rebuild, scaling
from .harness import PARTITIONS, Config, Infra, Results, write_report


async def run(bootstrap: str, admin_dsn: str, cfg: Config, say: Callable[[str], None] = print) -> dict:
    """The phases of `cfg.phases` that need the bench's Kafka + PostgreSQL (all but the journey); the report
    is written after each phase, so the figures so far survive a failure further on."""
    results = Results()
    total = 0
    sections: dict[str, dict] = {}  # phases whose figures are a section of their own, not Results rows
    async with Infra(bootstrap, admin_dsn) as infra:
        if "drain" in cfg.phases:
            total = await drain.run(infra, cfg, results, say)
            write_report(cfg, summarise(results, cfg, total))
        if "latency" in cfg.phases:
            await drain.run_latency(infra, cfg, results, say)
            write_report(cfg, summarise(results, cfg, total))
        if "idle" in cfg.phases:
            await idle.run(infra, cfg, results, say)
            write_report(cfg, summarise(results, cfg, total))
        if "scaling" in cfg.phases:
            await scaling.run(infra, cfg, results, say)
            write_report(cfg, summarise(results, cfg, total))
        if "lifecycle" in cfg.phases:
            sections["lifecycle"] = await lifecycle.run(infra, cfg, say)
        if "rebuild" in cfg.phases:
            sections["rebuild"] = await rebuild.run(admin_dsn, cfg, say)
        if "relay" in cfg.phases:
            sections["relay"] = await delivery.run_relay(infra, cfg, say)
        if "notify" in cfg.phases:
            sections["notify"] = await delivery.run_notify(infra, cfg, say)
    report = summarise(results, cfg, total) | sections
    write_report(cfg, report)
    return report


def summarise(results: Results, cfg: Config, total: int) -> dict:
    """The report: the run's conditions, then each phase's section that has figures."""
    report = {"when": datetime.now(UTC).isoformat(), "events": total, "repetitions": cfg.reps,
              "partitions": PARTITIONS, "cpus": os.cpu_count(), "load_average_at_start": cfg.load_at_start,
              "load_average_at_end": os.getloadavg(),
              "code": cfg.code,
              "smoke": cfg.smoke, "phases": list(cfg.phases), "rows": drain.summarise(results)}
    if section := idle.summarise(results, cfg):
        report["idle_services"] = section
    if section := scaling.summarise(results, cfg):
        report["scaling"] = section
    return report


def table(report: dict) -> str:
    """Every section of the report that has figures, one small table each."""
    sections = [drain.table(report), idle.table(report), scaling.table(report), lifecycle.table(report),
                rebuild.table(report), delivery.table(report), journey.table(report), proxy.table(report)]

    def load(key: str) -> str:
        return " ".join(f"{x:.2f}" for x in report.get(key) or ()) or "-"
    loads = (f"load average (1, 5, 15 min): {load('load_average_at_start')} before the run, "
             f"{load('load_average_at_end')} at its end ({report['cpus']} CPUs); code {report.get('code') or '?'}")
    return "\n\n".join([*(s for s in sections if s), loads])
