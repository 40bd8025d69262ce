"""`uv run python -m tools.ops <command>`: consumer lag, outbox backlog, dead letters, registry rebuild.

Kafka comes from --bootstrap-servers or $KAFKA_BOOTSTRAP_SERVERS; output is JSON, for humans and scripts.
"""

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from . import core


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m tools.ops", description=__doc__)
    root.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    commands = root.add_subparsers(dest="command", required=True)
    lag = commands.add_parser("lag", help="committed vs end offsets of a consumer group")
    lag.add_argument("group")
    backlog = commands.add_parser("backlog", help="unpublished outbox rows of a service database")
    backlog.add_argument("database_url")
    listing = commands.add_parser("dead-letters", help="list a consumer group's dead letters")
    listing.add_argument("group")
    replay = commands.add_parser("replay", help="republish dead letters to their original topic")
    replay.add_argument("group")
    replay.add_argument("--event-id", action="append", dest="event_ids",
                        help="only this CloudEvents id (repeatable); default: every dead letter")
    rebuild = commands.add_parser("rebuild", help="rebuild the registry into an empty database")
    rebuild.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for connection_registry.rebuild")
    return root


async def run(args: argparse.Namespace) -> Any:
    bootstrap = args.bootstrap_servers
    if args.command in {"lag", "dead-letters", "replay"} and not bootstrap:
        raise SystemExit("Kafka bootstrap servers are required (--bootstrap-servers or $KAFKA_BOOTSTRAP_SERVERS)")
    if args.command == "lag":
        rows = await core.consumer_lag(bootstrap, args.group)
        return {"group": args.group, "total_lag": sum(r.lag for r in rows),
                "partitions": [{**asdict(r), "lag": r.lag} for r in rows]}
    if args.command == "backlog":
        pending, age = await core.backlog(args.database_url)
        return {"pending": pending, "oldest_age_seconds": round(age, 3)}
    if args.command == "dead-letters":
        return [asdict(d) for d in await core.list_dead_letters(bootstrap, args.group)]
    ids = set(args.event_ids) if args.event_ids else None
    return {"replayed": await core.replay_dead_letters(bootstrap, args.group, event_ids=ids)}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "rebuild":
        from connection_registry.rebuild import main as rebuild

        extra = ["--bootstrap-servers", args.bootstrap_servers] if args.bootstrap_servers else []
        return rebuild([*args.rest, *extra])
    print(json.dumps(asyncio.run(run(args)), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
