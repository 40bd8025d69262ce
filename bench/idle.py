"""Idle cost per service: CPU % and RSS of each real service process over a quiet window after start-up,
next to the bare baseline B0 started alongside it in the same repetition.

Each service runs as `python -m <service>` (local_infra.processes.service_process) with the environment
`make run` gives it (local_infra.stack.plan), on a fresh database and its own consumer group whose offsets
are first set to the end of every topic, so there is no backlog to work through. What they call only on
demand (Cloud POS, Xero, the helpdesk's SMTP sink and webhook) is pointed at ports where nothing listens:
nothing calls them while idle. The processes start one after another, each waited for on /health/ready;
after `settle_seconds` (consumer groups joined), CPU (utime+stime) of every process is read at the start and
the end of one common window of `service_idle_seconds`, and RSS (VmRSS) at its end. Each repetition starts
everything afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from local_infra._proc import port_open
from local_infra.postgres import temporary_database
from local_infra.processes import service_process
from local_infra.stack import DATABASES, Ports, generate_secrets, plan

from . import baseline
from .harness import LOGS, SERVICES, Consumer, Infra, Results, cell, cpu_seconds, fmt, grid, rss_mb, stats

if TYPE_CHECKING:
    from .harness import Config

GOAL_PCT = 1.0  # issue #10: idle CPU <= 1 % per service
BARE = "B0"


def quiet_offset() -> int:
    """A `make run` port offset whose sandbox and SMTP ports nobody listens on."""
    for offset in range(20000, 50000, 137):
        ports = Ports(offset=offset)
        if not any(port_open(p, timeout=0.1) for p in (ports.xero, ports.cloudpos, ports.helpdesk, ports.smtp,
                                                         ports.gateway, ports.key_validator, ports.registry,
                                                         ports.notifier)):
            return offset
    raise RuntimeError("no free port offset for the idle services' (unused) third-party addresses")


def environments(kafka: str, dsns: dict[str, str], groups: dict[str, str]) -> dict[str, dict[str, str]]:
    """`make run`'s environment for each service in `dsns`, with its own database and consumer group."""
    unused = "postgresql://unused@127.0.0.1:1/unused"
    processes = plan(Ports(offset=quiet_offset()), kafka, {s: dsns.get(s, unused) for s in DATABASES},
                     generate_secrets(), LOGS)
    return {p.name: p.env | {f"{p.name.upper()}_KAFKA__CONSUMER_GROUP": groups[p.name]}
            for p in processes if p.name in dsns}


async def measure(infra: Infra, cfg: Config, rep: int, say: Callable[[str], None]) -> dict[str, dict[str, float]]:
    """One repetition: start B0 and the services, let them settle, measure one common quiet window."""
    tag = uuid.uuid4().hex[:6]
    services = list(cfg.idle_services)
    async with contextlib.AsyncExitStack() as stack:
        dsns = {s: await stack.enter_async_context(temporary_database(infra.admin_dsn, prefix=f"bench_idle_{s}"))
                for s in services}
        bare_dsn = await stack.enter_async_context(temporary_database(infra.admin_dsn, prefix="bench_idle_b0"))
        await baseline.create_schema(bare_dsn)
        groups = {s: f"bench-idle-{s}-{tag}" for s in [*services, BARE]}
        topics = await infra.all_topics()
        for group in groups.values():
            await infra.set_group_to_end(group, topics)
        envs = environments(infra.bootstrap, dsns, groups)

        bare = Consumer(infra, BARE, bare_dsn, groups[BARE])
        stack.callback(bare.stop)
        running = contextlib.ExitStack()  # service_process is synchronous: entered and left in a thread
        stack.push_async_callback(asyncio.to_thread, running.close)
        pids = {BARE: bare.pid}
        LOGS.mkdir(parents=True, exist_ok=True)
        for service in services:
            started = time.monotonic()
            process = await asyncio.to_thread(running.enter_context,
                                              service_process(service, envs[service], LOGS, ready_timeout=120))
            pids[service] = process.process.pid
            say(f"  rep {rep} idle: {service} ready in {time.monotonic() - started:.1f}s")
        await asyncio.sleep(cfg.settle_seconds)
        if not bare.alive():
            raise RuntimeError(f"B0 exited early; see {LOGS / bare.name}.log")
        before, t0 = {n: cpu_seconds(pid) for n, pid in pids.items()}, time.monotonic()
        await asyncio.sleep(cfg.service_idle_seconds)
        after, t1 = {n: cpu_seconds(pid) for n, pid in pids.items()}, time.monotonic()
        figures = {n: {"idle_cpu_pct": (after[n] - before[n]) / (t1 - t0) * 100, "rss_mb": rss_mb(pid)}
                   for n, pid in pids.items()}
    for name, f in figures.items():
        say(f"  rep {rep} idle: {name:20} {f['idle_cpu_pct']:5.2f} % CPU  {f['rss_mb']:6.1f} MB")
    return figures


async def run(infra: Infra, cfg: Config, results: Results, say: Callable[[str], None]) -> None:
    say(f"idle: {', '.join(cfg.idle_services)} and {BARE}, {cfg.service_idle_seconds:.0f}s quiet window "
        f"after {cfg.settle_seconds:.0f}s settling")
    for rep in range(1, cfg.reps + 1):
        for name, f in (await measure(infra, cfg, rep, say)).items():
            results.add("svc_idle_cpu_pct", name, f["idle_cpu_pct"])
            results.add("svc_idle_rss_mb", name, f["rss_mb"])


def summarise(results: Results, cfg: Config) -> dict | None:
    cpu, rss = results.figures.get("svc_idle_cpu_pct"), results.figures.get("svc_idle_rss_mb")
    if not cpu:
        return None
    rows = []
    for name in [*(s for s in SERVICES if s in cpu), BARE]:
        c = stats(cpu[name])
        is_service = name != BARE
        rows.append({"process": name, "idle_cpu_pct": c, "rss_mb": stats(rss[name]),
                     "goal": f"<= {GOAL_PCT:g} %" if is_service else None,
                     "met": c["median"] <= GOAL_PCT if is_service else None})
    return {"window_seconds": cfg.service_idle_seconds, "settle_seconds": cfg.settle_seconds,
            "repetitions": len(cpu[BARE]), "rows": rows}


def table(report: dict) -> str | None:
    section = report.get("idle_services")
    if not section:
        return None
    bare = next(r for r in section["rows"] if r["process"] == BARE)["idle_cpu_pct"]["median"]
    head = ["idle process", "CPU % median [range]", "RSS MB median [range]", "CPU - B0 (points)", "goal", "met"]
    body = [[r["process"] if r["process"] != BARE else "B0 (bare aiokafka+asyncpg)", cell(r["idle_cpu_pct"]),
             cell(r["rss_mb"]),
             fmt(r["idle_cpu_pct"]["median"] - bare) if r["process"] != BARE else "-",
             r["goal"] or "", {True: "yes", False: "NO", None: ""}[r["met"]]] for r in section["rows"]]
    note = (f"idle: each service as its own process with `make run`'s settings and B0, started one after "
            f"another, then {section['settle_seconds']:.0f}s settling and one common {section['window_seconds']:.0f}s "
            f"window with no traffic; {section['repetitions']} repetition(s)")
    return "\n".join([note, *grid(head, body)])
