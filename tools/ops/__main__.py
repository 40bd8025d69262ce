"""`uv run python -m tools.ops <command>`: consumer lag, outbox backlog, dead letters, registry rebuild, erasure.

Kafka comes from --bootstrap-servers or $KAFKA_BOOTSTRAP_SERVERS; in production also $KAFKA_SECURITY_PROTOCOL=SASL_SSL,
$KAFKA_SASL_USERNAME (the `ops` KafkaUser, the one super user), $KAFKA_SASL_PASSWORD and $KAFKA_SSL_CA_FILE
(`shared.kafka_clients.kafka_settings_from_env`). Output is JSON, for humans and scripts.
"""

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from shared.kafka_clients import kafka_settings_from_env

from . import core, erase


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
    erasing = commands.add_parser("erase-merchant",
                                  help="erase a merchant everywhere (docs/erasure.md) and wait for every service")
    erasing.add_argument("merchant_id")
    erasing.add_argument("--requested-by", required=True, help="your name: recorded as ops:<name>")
    erasing.add_argument("--reference", required=True, help="the ticket the erasure was asked in")
    erasing.add_argument("--registry-url", default=os.environ.get("CONNECTION_REGISTRY_URL"))
    erasing.add_argument("--api-token", default=os.environ.get("CONNECTION_REGISTRY_API_TOKEN"),
                         help="the registry's bearer token (default: $CONNECTION_REGISTRY_API_TOKEN)")
    erasing.add_argument("--wait-seconds", type=float, default=120.0,
                         help="how long to wait for every consumer group of MerchantErased to pass the record")
    erasing.add_argument("--group", action="append", dest="groups",
                         help=f"a consumer group of MerchantErased (repeatable; default: {', '.join(erase.GROUPS)})")
    rebuild = commands.add_parser("rebuild", help="rebuild the registry into an empty database")
    rebuild.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for connection_registry.rebuild")
    return root


async def run(args: argparse.Namespace) -> Any:
    bootstrap = args.bootstrap_servers
    if args.command in {"lag", "dead-letters", "replay", "erase-merchant"} and not bootstrap:
        raise SystemExit("Kafka bootstrap servers are required (--bootstrap-servers or $KAFKA_BOOTSTRAP_SERVERS)")
    kafka = kafka_settings_from_env(bootstrap) if bootstrap else ""
    if args.command == "lag":
        rows = await core.consumer_lag(kafka, args.group)
        return {"group": args.group, "total_lag": sum(r.lag for r in rows),
                "partitions": [{**asdict(r), "lag": r.lag} for r in rows]}
    if args.command == "erase-merchant":
        if not args.registry_url or not args.api_token:
            raise SystemExit("the registry's URL and token are required (--registry-url/$CONNECTION_REGISTRY_URL, "
                             "--api-token/$CONNECTION_REGISTRY_API_TOKEN)")
        by = args.requested_by if args.requested_by.startswith("ops:") else f"ops:{args.requested_by}"
        return await erase.erase_merchant(kafka, args.registry_url, args.api_token, args.merchant_id,
                                          requested_by=by, reference=args.reference, wait_seconds=args.wait_seconds,
                                          groups=tuple(args.groups or erase.GROUPS))
    if args.command == "backlog":
        pending, age = await core.backlog(args.database_url)
        return {"pending": pending, "oldest_age_seconds": round(age, 3)}
    if args.command == "dead-letters":
        return [asdict(d) for d in await core.list_dead_letters(kafka, args.group)]
    ids = set(args.event_ids) if args.event_ids else None
    return {"replayed": await core.replay_dead_letters(kafka, args.group, event_ids=ids)}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "rebuild":
        from connection_registry.rebuild import main as rebuild

        extra = ["--bootstrap-servers", args.bootstrap_servers] if args.bootstrap_servers else []
        return rebuild([*args.rest, *extra, "--kafka-env-prefix", "KAFKA_"])
    try:
        result = asyncio.run(run(args))
    except erase.ErasureFailed as failed:
        print(f"erase-merchant: {failed}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 1 if isinstance(result, dict) and result.get("complete") is False else 0


if __name__ == "__main__":
    sys.exit(main())
