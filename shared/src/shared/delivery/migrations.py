"""A small forward-only migration runner: numbered `.sql` files per component, applied once, in order.

Every service applies the delivery kit's migrations and then its own, into its own database. An
advisory lock makes concurrent instances starting together safe.
"""

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import asyncpg

_LOCK_ID = 0x6D6967726174  # "migrat"


@dataclass(frozen=True, slots=True)
class Migrations:
    """The `NNNN_name.sql` files of one component."""

    component: str
    folder: Traversable

    def scripts(self) -> list[tuple[str, str]]:
        found = [f for f in self.folder.iterdir() if f.name.endswith(".sql")]
        return [(f.name.removesuffix(".sql"), f.read_text()) for f in sorted(found, key=lambda f: f.name)]


DELIVERY_MIGRATIONS = Migrations("delivery", files("shared.delivery") / "sql")


async def apply_migrations(pool: asyncpg.Pool, *components: Migrations) -> list[str]:
    """Apply what is missing, all in one transaction under an advisory transaction lock (instances starting
    together apply each script once; a failed script leaves nothing half-applied; an instance frozen here
    holds the lock only until PostgreSQL ends its idle transaction). Returns the names applied."""
    applied_now: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component text NOT NULL, version text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
        )
        for component in components:
            done = {r["version"] for r in await conn.fetch(
                "SELECT version FROM schema_migrations WHERE component = $1", component.component)}
            for version, sql in component.scripts():
                if version in done:
                    continue
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
                                   component.component, version)
                applied_now.append(f"{component.component}/{version}")
    return applied_now


async def pending_migrations(pool: asyncpg.Pool, *components: Migrations) -> list[str]:
    """What `apply_migrations` would still apply; readiness is false while this is not empty."""
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        rows = await conn.fetch("SELECT component, version FROM schema_migrations") if exists else []
    done = {(r["component"], r["version"]) for r in rows}
    return [f"{c.component}/{v}" for c in components for v, _ in c.scripts() if (c.component, v) not in done]
