"""`python -m bench [--smoke] [--only PHASES] [--events N] [--reps R] ...`: run the phases, print the tables.

Phases (default: all; --smoke: drain,idle with one service and a short window):
  drain    B0, B1, B2 (batched), S drain the pre-filled topic, then drain it again as 100 % duplicates
  latency  open-loop latency at half of B1's drain throughput, then idle CPU of B0, B1, B2, S (needs drain)
  idle     idle CPU % and RSS of the four services (make run's settings) next to B0
  scaling  drain throughput of 2 consumer processes in one group vs 1 (S and B1)
  lifecycle  10,000 merchants: keep-alive cycle vs a bare refresh loop, lost refresh answers, upkeep's Xero calls
           per minute (steady, peak), gateway DB sessions, stores and helpdesk pages p95 (gateway, registry, sandbox)
  rebuild  connection_registry.rebuild of a year of events (1,000,000 for 10,000 merchants) from a private broker
  relay    the outbox relay's publish rate (a private topic) next to one send_and_wait per row
  notify   the notifier's webhook deliveries/s against a sink answering in 20 ms, next to sequential sends
  journey  Confirm Selection -> helpdesk email on the `make run` stack (its own Kafka and PostgreSQL)
  proxy    a Xero call through the platform proxy vs straight to the sandbox: added ms, calls/s (make run stack)

Kafka and PostgreSQL for all but the journey come from local_infra.resolve: $KAFKA_BOOTSTRAP_SERVERS /
$DATABASE_URL when set, else containers or local processes.
"""

import argparse
import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

from local_infra.resolve import kafka_bootstrap_servers, postgres_dsn

from . import journey, proxy
from .harness import PHASES, ROOT, SERVICES, Config, Results, write_report
from .phases import run, summarise, table


def _names(allowed: tuple[str, ...]):  # noqa: ANN202 - an argparse type
    def parse(value: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in value.split(",") if n.strip())
        if not names or set(names) - set(allowed):
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
        return names
    return parse


def _code() -> str:
    """The commit being measured, and whether the working tree differs from it (services start from it)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""
    commit = git("rev-parse", "--short", "HEAD")
    return f"{commit} + changes" if commit and git("status", "--porcelain", "--untracked-files=no") else commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small and quick: drain, duplicates, one idle service")
    parser.add_argument("--only", type=_names(PHASES), help=f"comma-separated phases ({','.join(PHASES)})")
    parser.add_argument("--events", type=int, help="events pre-filled in the topic (default 5000; smoke 300)")
    parser.add_argument("--reps", type=int, help="repetitions of drain, latency, idle, scaling (default 3; smoke 1)")
    parser.add_argument("--latency-events", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="B0/B1/S idle window after latency")
    parser.add_argument("--idle-services", type=_names(SERVICES),
                        help="services of the idle phase (default all four; smoke notifier)")
    parser.add_argument("--service-idle-seconds", type=float, help="idle phase window (default 30; smoke 3)")
    parser.add_argument("--settle-seconds", type=float, help="idle phase wait after ready (default 5; smoke 2)")
    parser.add_argument("--scaling-events", type=int, help="events per scaling run (default: --events or 5000)")
    parser.add_argument("--journey-reps", type=int, default=8, help="merchants walked through (plus a warm-up)")
    parser.add_argument("--journey-port-offset", type=int, default=3500)
    parser.add_argument("--proxy-calls", type=int, default=500, help="calls of each kind for the latency figures")
    parser.add_argument("--proxy-seconds", type=float, default=10.0, help="throughput window of each kind")
    parser.add_argument("--proxy-concurrency", type=int, default=16)
    parser.add_argument("--lifecycle-merchants", type=int, default=10_000,
                        help="merchants of the lifecycle phase (3 stores and 2 Xero grants each)")
    parser.add_argument("--lifecycle-baseline-refreshes", type=int, default=2000, help="the bare refresh loop's size")
    parser.add_argument("--lifecycle-drop-fraction", type=float, default=0.05,
                        help="refresh answers the sandbox loses in the second keep-alive cycle")
    parser.add_argument("--lifecycle-drop-mode", choices=("abort", "504"), default="abort")
    parser.add_argument("--lifecycle-drop-grants", type=int, default=5000,
                        help="grants of the keep-alive cycle with lost answers (0: all)")
    parser.add_argument("--lifecycle-window", type=float, default=60.0,
                        help="seconds of each check window (steady, peak)")
    parser.add_argument("--lifecycle-page-requests", type=int, default=200,
                        help="merchant stores page requests (a quarter as many per helpdesk page)")
    parser.add_argument("--rebuild-events", type=int, default=1_000_000, help="events of the rebuild phase's year")
    parser.add_argument("--rebuild-merchants", type=int, default=10_000)
    parser.add_argument("--rebuild-batch-size", type=int, default=1000,
                        help="events per transaction of the rebuild (1: one by one)")
    parser.add_argument("--relay-events", type=int, help="outbox rows the relay publishes (default 20000)")
    parser.add_argument("--notify-deliveries", type=int, help="webhook deliveries (default 2000; sequential a tenth)")
    parser.add_argument("--out", type=Path, help="JSON figures (default artifacts/bench/latest.json)")
    args = parser.parse_args(argv)
    phases = args.only or (("drain", "idle") if args.smoke else PHASES)
    if "latency" in phases and "drain" not in phases:
        parser.error("latency runs at half of B1's drain throughput: add drain")
    events = args.events or (300 if args.smoke else 5000)
    cfg = Config(events=events, reps=args.reps or (1 if args.smoke else 3), latency_events=args.latency_events,
                 idle_seconds=args.idle_seconds, smoke=args.smoke, phases=tuple(p for p in PHASES if p in phases),
                 idle_services=args.idle_services or (("notifier",) if args.smoke else SERVICES),
                 service_idle_seconds=args.service_idle_seconds or (3.0 if args.smoke else 30.0),
                 settle_seconds=args.settle_seconds if args.settle_seconds is not None else
                 (2.0 if args.smoke else 5.0),
                 scaling_events=args.scaling_events or events, journey_reps=args.journey_reps,
                 journey_port_offset=args.journey_port_offset, proxy_calls=args.proxy_calls,
                 proxy_seconds=args.proxy_seconds, proxy_concurrency=args.proxy_concurrency,
                 lifecycle_merchants=args.lifecycle_merchants,
                 lifecycle_baseline_refreshes=args.lifecycle_baseline_refreshes,
                 lifecycle_drop_fraction=args.lifecycle_drop_fraction, lifecycle_drop_mode=args.lifecycle_drop_mode,
                 lifecycle_drop_grants=args.lifecycle_drop_grants,
                 lifecycle_window_seconds=args.lifecycle_window,
                 lifecycle_page_requests=args.lifecycle_page_requests,
                 rebuild_events=args.rebuild_events, rebuild_merchants=args.rebuild_merchants,
                 rebuild_batch_size=args.rebuild_batch_size)
    cfg.relay_events = args.relay_events or (1000 if args.smoke else cfg.relay_events)
    cfg.notify_deliveries = args.notify_deliveries or (200 if args.smoke else cfg.notify_deliveries)
    cfg.load_at_start = os.getloadavg()
    cfg.code = _code()
    if args.out:
        cfg.out = args.out
    logging.basicConfig(level=logging.WARNING)

    def say(line: str) -> None:
        print(line, flush=True)

    if set(cfg.phases) - {"journey", "proxy"}:
        with kafka_bootstrap_servers() as bootstrap, postgres_dsn() as admin_dsn:
            report = asyncio.run(run(bootstrap, admin_dsn, cfg, say))
    else:
        report = summarise(Results(), cfg, 0)
    status = 0
    if "journey" in cfg.phases:  # after the other phases' Kafka and PostgreSQL have stopped
        try:
            report["journey"] = asyncio.run(journey.run(cfg, say))
        except Exception as error:  # noqa: BLE001 - the other figures are still worth printing
            say(f"journey failed: {type(error).__name__}: {error}")
            status = 1
    if "proxy" in cfg.phases:  # on a `make run` stack of its own, like the journey
        try:
            report["proxy"] = asyncio.run(proxy.run(cfg, say))
        except Exception as error:  # noqa: BLE001 - the other figures are still worth printing
            say(f"proxy failed: {type(error).__name__}: {error}")
            status = 1
    if {"journey", "proxy"} & set(cfg.phases):
        report["load_average_at_end"] = os.getloadavg()
        write_report(cfg, report)
    print()
    print(table(report))
    print(f"\nfigures written to {cfg.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
