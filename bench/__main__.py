"""`python -m bench [--smoke] [--events N] [--reps R]`: start Kafka + PostgreSQL, run, print the table.

Kafka and PostgreSQL come from local_infra.resolve: $KAFKA_BOOTSTRAP_SERVERS / $DATABASE_URL when set,
else containers or local processes.
"""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from local_infra.resolve import kafka_bootstrap_servers, postgres_dsn

from .harness import Config, run, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="small and quick: drain and duplicates only")
    parser.add_argument("--events", type=int, help="events pre-filled in the topic (default 5000; smoke 300)")
    parser.add_argument("--reps", type=int, help="repetitions of B0, B1, S (default 3; smoke 1)")
    parser.add_argument("--latency-events", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, help="JSON figures (default artifacts/bench/latest.json)")
    args = parser.parse_args(argv)
    cfg = Config(events=args.events or (300 if args.smoke else 5000), reps=args.reps or (1 if args.smoke else 3),
                 latency_events=args.latency_events, idle_seconds=args.idle_seconds, smoke=args.smoke)
    if args.out:
        cfg.out = args.out
    logging.basicConfig(level=logging.WARNING)

    def say(line: str) -> None:
        print(line, flush=True)

    with kafka_bootstrap_servers() as bootstrap, postgres_dsn() as admin_dsn:
        report = asyncio.run(run(bootstrap, admin_dsn, cfg, say))
    print()
    print(table(report))
    print(f"\nfigures written to {cfg.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
