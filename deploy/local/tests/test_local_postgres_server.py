"""The local PostgreSQL launcher: real queries, restart and crash keep data, stop leaves nothing."""

from __future__ import annotations

import asyncpg
import pytest

from local_infra._proc import descendants, pid_alive
from local_infra.postgres import PostgresServer, temporary_database, with_database

pytestmark = pytest.mark.postgres


async def fetchval(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_server_create_db_query_restart_kill_and_stop() -> None:
    server = PostgresServer()
    server.start()
    try:
        assert server.dsn.startswith("postgresql://postgres@127.0.0.1:")
        await execute(server.dsn, "CREATE DATABASE app")
        app = with_database(server.dsn, "app")
        await execute(app, "CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1)")
        assert await fetchval(app, "SELECT count(*) FROM items") == 1

        port = server.port
        server.restart()
        assert server.port == port
        await execute(app, "INSERT INTO items VALUES (2)")

        crashed = server.pid
        assert crashed is not None
        backends = descendants(crashed)
        server.kill()  # right after an acknowledged commit: it must survive the crash
        assert not pid_alive(crashed) and not any(pid_alive(p) for p in backends)
        server.restart()
        assert await fetchval(app, "SELECT array_agg(id ORDER BY id) FROM items") == [1, 2]
    finally:
        pid, workdir = server.pid, server.workdir
        children = descendants(pid) if pid else []
        server.stop()
    assert pid is not None and workdir is not None
    assert not pid_alive(pid) and not any(pid_alive(p) for p in children)
    assert not workdir.exists()


async def test_temporary_database_is_dropped_even_with_open_connection() -> None:
    with PostgresServer() as server:
        async with temporary_database(server.dsn, prefix="tmp") as dsn:
            name = dsn.rsplit("/", 1)[1]
            lingering = await asyncpg.connect(dsn)  # WITH (FORCE) must still drop it
            assert await lingering.fetchval("SELECT current_database()") == name
        try:
            assert await fetchval(server.dsn, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == 0
        finally:
            lingering.terminate()
