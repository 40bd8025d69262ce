"""An outbox relay as a process of its own, for the fault suite: `python tests/faults/relay_launcher.py DSN
BOOTSTRAP [--pause-before-marking]`.

With `--pause-before-marking` the relay's connection is wrapped so that the step which marks rows published
(the `UPDATE delivery_outbox SET published_at ...` the relay runs once the broker has acked them) prints
`acked` and waits forever instead: a SIGKILL sent on that line lands exactly between the broker's ack and
the mark. The production relay (shared.delivery.outbox) runs unchanged; no hook in it.
"""

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from shared.delivery import OutboxRelay, idempotent_producer

MARK = "UPDATE delivery_outbox SET published_at"


class _PausingConnection:
    """The relay's connection, except that marking rows published never happens: it says so and waits."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, query: str, *args: Any) -> str:
        if query.lstrip().startswith(MARK):
            print(f"acked {len(args[0]) if args else 0}", flush=True)
            await asyncio.Event().wait()
        return await self._conn.execute(query, *args)


class _PausingPool:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_PausingConnection]:
        async with self._pool.acquire() as conn:
            yield _PausingConnection(conn)


async def main(dsn: str, bootstrap: str, pause: bool) -> None:
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        producer = idempotent_producer(bootstrap, "fault-relay")
        await producer.start()
        try:
            relay = OutboxRelay(_PausingPool(pool) if pause else pool, producer)  # type: ignore[arg-type]
            print("started", flush=True)
            await relay.run()
        finally:
            await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], "--pause-before-marking" in sys.argv[3:]))
