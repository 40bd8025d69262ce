"""docs/backup-restore.md, tried: the gateway's database (the only copy of the merchants' Xero refresh tokens) is
dumped with `pg_dump -Fc` and restored with `pg_restore` into a fresh PostgreSQL server (its own data directory and
port); a gateway built on the restored database with the same token keys refreshes the restored grant against the
Xero sandbox. With another key set the restore is useless, and says so without showing a token. A backup older
than the last rotation works inside Xero's 30-minute grace, and after it the grant is broken (the merchant
reconnects). Timings and sizes are printed (`-s`) for the runbook."""

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI

from local_infra.merchant import connect, ready
from local_infra.postgres import PostgresServer, find_pg_bin_dir, temporary_database
from oauth_gateway.adapters.crypto import UndecryptableToken
from oauth_gateway.main import build_app
from oauth_gateway.xero_client import GrantBroken
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from services.oauth_gateway.tests.stack import Stack, gateway_stack

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
GRACE_SECONDS = 30 * 60  # Xero honours the previous refresh token this long after a rotation


def _tool(name: str, *args: str) -> None:
    subprocess.run([str(find_pg_bin_dir() / name), *args], check=True, capture_output=True, timeout=120)


@asynccontextmanager
async def restored(stack: Stack, tmp_path: Path, figures: dict[str, float]) -> AsyncIterator[str]:
    """The gateway's database dumped, then restored into a fresh server: the restored database's DSN."""
    dump = tmp_path / "oauth_gateway.dump"
    started = time.perf_counter()
    await asyncio.to_thread(_tool, "pg_dump", "--format=custom", "--no-owner", f"--file={dump}", stack.dsn)
    figures["dump_seconds"], figures["dump_bytes"] = time.perf_counter() - started, dump.stat().st_size
    fresh = PostgresServer()   # its own data directory and port: nothing shared with the dumped server
    await asyncio.to_thread(fresh.start)
    try:
        async with temporary_database(fresh.dsn, prefix="restored") as dsn:
            started = time.perf_counter()
            await asyncio.to_thread(_tool, "pg_restore", "--no-owner", "--exit-on-error", f"--dbname={dsn}", str(dump))
            figures["restore_seconds"] = time.perf_counter() - started
            yield dsn
    finally:
        await asyncio.to_thread(fresh.stop)


@asynccontextmanager
async def gateway_on(stack: Stack, dsn: str, **token_keys: str) -> AsyncIterator[FastAPI]:
    """Another gateway with the stack's settings on `dsn` (its own consumer group); `token_keys` replace its keys."""
    settings = stack.app.state.settings
    changes: dict[str, object] = {"database": settings.database.model_copy(update={"url": dsn}),
                                  "kafka": settings.kafka.model_copy(update={"consumer_group": "restored-gateway"})}
    if token_keys:
        changes |= {"token_keys": token_keys, "active_token_key_id": next(iter(token_keys))}
    app = build_app(settings.model_validate(settings.model_dump() | changes), clock=stack.clock.now)
    async with app.router.lifespan_context(app):
        yield app


def _check_keys(dsn: str, keys: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m oauth_gateway check-keys` as a drill runs it: the database and the keys, nothing else."""
    env = {**os.environ, "OAUTH_GATEWAY_DATABASE__URL": dsn, "OAUTH_GATEWAY_TOKEN_KEYS": json.dumps(keys),
           "OAUTH_GATEWAY_ACTIVE_TOKEN_KEY_ID": next(iter(keys))}
    return subprocess.run([sys.executable, "-m", "oauth_gateway", "check-keys"], env=env, capture_output=True,
                          text=True, timeout=60)


async def _connected(stack: Stack) -> str:
    browser = await ready(stack)
    await connect(stack, browser, next(iter(stack.merchant.stores)), STEVE_TEST_STORE_TENANT_ID)
    return await stack.pool.fetchval("SELECT grant_id FROM grants")


async def _token_calls(stack: Stack) -> list[int]:
    return [call["status"] for call in await stack.token_calls()]


async def test_a_restored_gateway_database_refreshes_its_grant_with_the_same_keys_only(
        pg_dsn, kafka_bootstrap, unique_name, tmp_path) -> None:
    figures: dict[str, float] = {}
    async with gateway_stack(pg_dsn, kafka_bootstrap, unique_name("backup")) as stack:
        grant = await _connected(stack)
        sealed = await stack.pool.fetchval("SELECT refresh_token FROM grants")
        refresh_token = stack.app.state.sealer.open(sealed, f"grant:{grant}:refresh")
        async with restored(stack, tmp_path, figures) as dsn:
            wrong = {"k1": base64.b64encode(os.urandom(32)).decode()}   # the key ids kept, other secrets
            right = {k: v.get_secret_value() for k, v in stack.app.state.settings.token_keys.items()}
            refused, passed = await asyncio.gather(asyncio.to_thread(_check_keys, dsn, wrong),
                                                   asyncio.to_thread(_check_keys, dsn, right))
            assert refused.returncode == 1 and "1 of 1 grants" in refused.stderr and grant in refused.stderr
            assert refresh_token not in refused.stdout + refused.stderr
            assert passed.returncode == 0 and "all 1 grants' tokens open" in passed.stdout, passed.stderr
            async with gateway_on(stack, dsn, **wrong) as lost:
                before = len(await _token_calls(stack))
                with pytest.raises(UndecryptableToken, match=f"cannot open token sealed for grant:{grant}") as error:
                    await lost.state.xero.tokens.access_token(grant, force=True)
                assert refresh_token not in str(error.value) and len(await _token_calls(stack)) == before

            async with gateway_on(stack, dsn) as recovered:
                token = await recovered.state.xero.tokens.access_token(grant, force=True)
                assert token and (await _token_calls(stack))[-1] == 200
                assert await recovered.state.runtime.pool.fetchval("SELECT version FROM grants") == 2
    print(f"\ngateway database backup: {figures}")


@pytest.mark.parametrize("restored_after", [60, GRACE_SECONDS + 60], ids=["inside-grace", "after-grace"])
async def test_a_backup_older_than_the_last_rotation_works_only_inside_xeros_grace(
        pg_dsn, kafka_bootstrap, unique_name, tmp_path, restored_after: int) -> None:
    """The live gateway rotated the refresh token after the backup: the restored (previous) one is honoured for 30
    minutes; later Xero refuses it, the grant is broken and the merchant is told to reconnect (ConnectionBroken)."""
    async with gateway_stack(pg_dsn, kafka_bootstrap, unique_name("backup-old")) as stack:
        grant = await _connected(stack)
        async with restored(stack, tmp_path, {}) as dsn:
            await stack.xero_client.tokens.access_token(grant, force=True)  # the live one rotates after the backup
            await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": restored_after})
            async with gateway_on(stack, dsn) as late:
                pool = late.state.runtime.pool
                if restored_after < GRACE_SECONDS:
                    assert await late.state.xero.tokens.access_token(grant, force=True)
                    assert await pool.fetchval("SELECT status FROM grants") == "active"
                    return
                with pytest.raises(GrantBroken):
                    await late.state.xero.tokens.access_token(grant, force=True)
                assert await pool.fetchval("SELECT status FROM grants") == "broken"
                assert await pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE topic = 'ConnectionBroken'") == 1
