"""Each service's retention rules on its real schema (real PostgreSQL): old rows pruned or their addresses cleared,
young ones kept, and the staff audit still refusing every ordinary delete and update (docs/retention.md)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
import yaml

from connection_registry.adapters.retention import retention_rules as registry_rules
from connection_registry.main import MIGRATIONS as REGISTRY
from key_validator.adapters.retention import retention_rules as validator_rules
from key_validator.main import MIGRATIONS as VALIDATOR
from notifier.adapters.retention import retention_rules as notifier_rules
from notifier.main import MIGRATIONS as NOTIFIER
from oauth_gateway.adapters.retention import retention_rules as gateway_rules
from oauth_gateway.main import MIGRATIONS as GATEWAY
from shared.delivery import DELIVERY_MIGRATIONS, Migrations, apply_migrations
from shared.ratelimit import RATE_LIMIT_MIGRATIONS
from shared.retention import Pruner
from shared.settings import RetentionSettings

SETTINGS = RetentionSettings(batch_size=3)
NOW = datetime.now(UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def _database(dsn: str, *migrations: Migrations) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await apply_migrations(pool, DELIVERY_MIGRATIONS, *migrations)
    return pool


@pytest.fixture
async def registry(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await _database(fresh_database, REGISTRY)
    yield pool
    await pool.close()


async def _audit(pool: asyncpg.Pool, at: datetime) -> int:
    return await pool.fetchval(
        "INSERT INTO staff_audit (at, subject, actor, role, action, outcome) VALUES ($1, 's', 'a@x', 'lead', 'view',"
        " 'ok') RETURNING audit_id", at)


@pytest.mark.postgres
async def test_the_staff_audit_loses_only_rows_past_its_retention(registry: asyncpg.Pool) -> None:
    old = [await _audit(registry, ago(401 + i)) for i in range(4)]
    young = await _audit(registry, ago(399))
    pruned = await Pruner("registry", lambda: registry, registry_rules(SETTINGS), SETTINGS).run_once()
    assert pruned["staff_audit"] == len(old)
    assert [r["audit_id"] for r in await registry.fetch("SELECT audit_id FROM staff_audit")] == [young]


@pytest.mark.postgres
async def test_the_staff_audit_still_refuses_ordinary_deletes_and_updates(registry: asyncpg.Pool) -> None:
    old, young = await _audit(registry, ago(500)), await _audit(registry, ago(10))
    attempts = [(None, "DELETE FROM staff_audit WHERE audit_id = $1", old),  # no cutoff named: refused
                (ago(400), "DELETE FROM staff_audit WHERE audit_id = $1", young),  # younger than the cutoff
                (ago(400), "UPDATE staff_audit SET outcome = 'forged' WHERE audit_id = $1", old)]
    async with registry.acquire() as conn:
        for cutoff, statement, row in attempts:
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                async with conn.transaction():
                    if cutoff is not None:
                        await conn.execute("SELECT set_config('retention.prune_before', $1, true)", cutoff.isoformat())
                    await conn.execute(statement, row)
        async with conn.transaction():  # the setting is transaction-local: it does not outlive the pruning
            await conn.execute("SELECT set_config('retention.prune_before', $1, true)", ago(400).isoformat())
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM staff_audit WHERE audit_id = $1", old)
    assert await registry.fetchval("SELECT count(*) FROM staff_audit") == 2


@pytest.mark.postgres
async def test_a_validation_attempt_loses_its_address_first_then_goes(fresh_database: str) -> None:
    pool = await _database(fresh_database, RATE_LIMIT_MIGRATIONS, VALIDATOR)
    try:
        rows = {age: uuid4() for age in (10, 31, 45, 401)}
        for age, validation_id in rows.items():
            await pool.execute(
                "INSERT INTO validation_attempts (validation_id, merchant_id, user_id, client_address, key_fingerprint,"
                " outcome, attempted_at) VALUES ($1, 'm', 'u', '203.0.113.9', repeat('a', 64), 'validated', $2)",
                validation_id, ago(age))
        await pool.execute("INSERT INTO rate_limit_holds (bucket, until) VALUES ('address:203.0.113.9', $1)", ago(2))
        pruned = await Pruner("key_validator", lambda: pool, validator_rules(SETTINGS), SETTINGS).run_once()
        left = {r["validation_id"]: r["client_address"] for r in await pool.fetch(
            "SELECT validation_id, client_address FROM validation_attempts")}
        assert set(left) == {rows[10], rows[31], rows[45]}
        assert left[rows[10]] is not None and left[rows[31]] is None and left[rows[45]] is None
        assert pruned["client_addresses"] == 3 and pruned["validation_attempts"] == 1  # the 401-day one went too
        assert await pool.fetchval("SELECT count(*) FROM rate_limit_holds") == 0
    finally:
        await pool.close()


@pytest.mark.postgres
async def test_the_gateway_keeps_audit_and_finished_work_for_their_retention(fresh_database: str) -> None:
    pool = await _database(fresh_database, RATE_LIMIT_MIGRATIONS, GATEWAY)
    try:
        for age in (401, 399):
            await pool.execute("INSERT INTO audit_log (at, merchant_id, actor, action) VALUES ($1, 'm', 'u', 'x')",
                               ago(age))
        for age, action in ((31, "sign_in.refused"), (29, "sign_in.refused"), (31, "platform.client_registered")):
            await pool.execute("INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, 'anonymous', $2,"
                               " jsonb_build_object('client', '198.51.100.7', 'reason', 'r'))", ago(age), action)
        for done in (ago(91), ago(89), None):
            await pool.execute(
                "INSERT INTO xero_jobs (kind, grant_id, merchant_id, actor, next_attempt_at, done_at, created_at)"
                " VALUES ('revoke_grant', 'g', 'm', 'u', $1, $2, $1)", ago(100), done)
        for merchant, ended in (("m-old", ago(91)), ("m-young", ago(1)), ("m-open", None)):
            await pool.execute(
                "INSERT INTO pending_completions (merchant_id, completed_by, requested_at, next_attempt_at, outcome,"
                " ended_at) VALUES ($1, 'u', $2, $2, $3, $2)", merchant, ended or NOW,
                None if ended is None else "delivered:202")
        await pool.execute("UPDATE pending_completions SET ended_at = NULL WHERE outcome IS NULL")
        await Pruner("oauth_gateway", lambda: pool, gateway_rules(SETTINGS), SETTINGS).run_once()
        rows = await pool.fetch("SELECT action, at, detail FROM audit_log")
        audit = {(r["action"], r["at"]): r["detail"] for r in rows}
        assert ("x", ago(401)) not in audit and ("x", ago(399)) in audit
        assert '198.51.100.7' not in audit["sign_in.refused", ago(31)] and "reason" in audit["sign_in.refused", ago(31)]
        assert '198.51.100.7' in audit["sign_in.refused", ago(29)]
        assert '198.51.100.7' in audit["platform.client_registered", ago(31)]  # a platform client's name here
        assert {r["done_at"] for r in await pool.fetch("SELECT done_at FROM xero_jobs")} == {ago(89), None}
        assert {r["merchant_id"] for r in await pool.fetch("SELECT merchant_id FROM pending_completions")} == {
            "m-young", "m-open"}
    finally:
        await pool.close()


@pytest.mark.postgres
async def test_the_notifier_drops_finished_and_parked_deliveries_with_their_attempts(fresh_database: str) -> None:
    pool = await _database(fresh_database, NOTIFIER)
    try:
        cases = {("delivered", 91): uuid4(), ("delivered", 89): uuid4(), ("parked", 31): uuid4(),
                 ("parked", 29): uuid4(), ("pending", 400): uuid4(), ("cancelled", 95): uuid4()}
        for (status, age), delivery_id in cases.items():
            at = ago(age)
            await pool.execute(
                "INSERT INTO helpdesk_deliveries (delivery_id, event_id, channel, kind, merchant_id, notification,"
                " status, created_at, delivered_at, parked_at, cancelled_at) VALUES ($1, $2, 'email', 'k', 'm', '{}',"
                " $3, $4, $5, $6, $7)", delivery_id, uuid4(), status, at, at if status == "delivered" else None,
                at if status == "parked" else None, at if status == "cancelled" else None)
            await pool.execute("INSERT INTO helpdesk_delivery_attempts (delivery_id, attempt, started_at, outcome)"
                               " VALUES ($1, 1, $2, 'transient')", delivery_id, at)
        await Pruner("notifier", lambda: pool, notifier_rules(SETTINGS), SETTINGS).run_once()
        kept = {r["delivery_id"] for r in await pool.fetch("SELECT delivery_id FROM helpdesk_deliveries")}
        assert kept == {cases["delivered", 89], cases["parked", 29], cases["pending", 400]}
        attempts = {r["delivery_id"] for r in await pool.fetch("SELECT delivery_id FROM helpdesk_delivery_attempts")}
        assert attempts == kept
    finally:
        await pool.close()


def test_the_dead_letter_topics_keep_what_the_settings_say() -> None:
    """The inbox horizon is sized from `dead_letter_days`: a topic keeping dead letters longer could replay an event
    older than the horizon, which would then be skipped as if applied."""
    topics = Path(__file__).resolve().parents[1] / "deploy/k8s/base/topics/kafka-topics.yaml"
    kept = {doc["spec"]["topicName"]: int(doc["spec"]["config"]["retention.ms"])
            for doc in yaml.safe_load_all(topics.read_text()) if doc["spec"]["topicName"].startswith("DeadLetter.")}
    assert kept and set(kept.values()) == {RetentionSettings().dead_letter_days * 86_400_000}, kept
