"""`python -m notifier.redrive <delivery-id>...` re-drives parked deliveries; `--list` shows the parked ones.

The same rule as `POST /v1/deliveries/{id}/redrive`: only a parked delivery is sent again, so running
this twice, or on a delivered one, sends nothing twice. Reads the service's own `NOTIFIER_*` settings.
Exit status: 0 when every id was found, 1 otherwise.
"""

import argparse
import asyncio
import sys
from uuid import UUID

import asyncpg

from shared.ports import utc_now

from .adapters.postgres import PgDeliveries
from .handlers import DeliveryAdmin
from .settings import NotifierSettings


async def redrive(database_url: str, ids: list[str], *, show_parked: bool = False) -> int:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        admin = DeliveryAdmin(PgDeliveries(lambda: pool), utc_now)
        if show_parked:
            for view in await admin.listing():
                print(f"{view.delivery_id}  {view.channel:<7}  merchant {view.merchant_id}  "
                      f"parked {view.parked_at:%Y-%m-%d %H:%M}Z  {view.last_error or ''}")
        return max([await _one(admin, raw) for raw in ids], default=0)
    finally:
        await pool.close()


async def _one(admin: DeliveryAdmin, raw: str) -> int:
    try:
        result = await admin.redrive(UUID(raw))
    except ValueError:
        print(f"{raw}: not a delivery id", file=sys.stderr)
        return 1
    if result is None:
        print(f"{raw}: no such delivery", file=sys.stderr)
        return 1
    state = result.delivery.status.value
    print(f"{raw}: re-driven, due now" if result.redriven else f"{raw}: {state}, not parked: nothing to do")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notifier.redrive", description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", metavar="delivery-id")
    parser.add_argument("--list", action="store_true", help="list parked deliveries first")
    args = parser.parse_args(argv)
    if not args.ids and not args.list:
        parser.error("give delivery ids, or --list")
    settings = NotifierSettings()  # type: ignore[call-arg] - filled from the environment
    return asyncio.run(redrive(settings.database.url, args.ids, show_parked=args.list))


if __name__ == "__main__":
    sys.exit(main())
