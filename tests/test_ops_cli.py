"""The ops command line on real Kafka + PostgreSQL, against a running registry: it lists a poison record's
dead letter with its reason; a dead letter of a good event, replayed, is applied once, and replaying it again
changes nothing; consumer lag drains to zero; the outbox backlog reads from the service database."""

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest

from connection_registry.main import build_app
from connection_registry.settings import RegistrySettings
from local_infra.postgres import temporary_database
from shared.contracts import examples, topics
from shared.contracts.topics import dead_letter_topic
from shared.delivery import CloudEvent, to_kafka
from tools.ops import core

from .support.kafka import eventually, produce
from .support.services import REGISTRY_CONSOLE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"api_token": "registry-api-token-for-tests", **REGISTRY_CONSOLE}


async def test_dead_letters_lag_backlog_and_replay(pg_dsn: str, kafka_bootstrap: str, unique_name) -> None:
    group = unique_name("ops-registry")
    poison_merchant, good_merchant = f"m-{uuid4().hex[:10]}", f"m-{uuid4().hex[:10]}"
    poison = to_kafka(CloudEvent(data=examples.key_validated(poison_merchant), source="/tests"))
    await produce(kafka_bootstrap, poison.topic, b'{"merchant_id": "broken"}', key=poison.key,
                  headers=poison.headers)
    # A good event parked earlier (say, by a since-fixed bug): it sits on the dead-letter topic only.
    good = CloudEvent(data=examples.key_validated(good_merchant), source="/tests")
    record = to_kafka(good)
    await produce(kafka_bootstrap, dead_letter_topic(group), record.value, key=record.key, headers=[
        *record.headers, ("dlq_reason", b"handler failed 5 times: bug"), ("dlq_consumer", group.encode()),
        ("dlq_topic", topics.KEY_VALIDATED.encode()), ("dlq_partition", b"0"), ("dlq_offset", b"0")])

    async with temporary_database(pg_dsn, prefix="ops_registry") as dsn:
        app = build_app(RegistrySettings(database={"url": dsn}, kafka={"bootstrap_servers": kafka_bootstrap,
                                                                       "consumer_group": group}, **SETTINGS))
        async with app.router.lifespan_context(app):
            pool = app.state.runtime.pool

            async def dead_letters() -> list[core.DeadLetter]:
                return await core.list_dead_letters(kafka_bootstrap, group)
            async def poison_dead_lettered() -> bool:  # other suites' bad records share the topic: wait for ours
                return str(poison_ce_id(poison)) in {d.event_id for d in await dead_letters()}
            await eventually(poison_dead_lettered, timeout=60, what="the poison record's dead letter")
            listed = {d.event_id: d for d in await dead_letters()}
            assert "data invalid" in listed[str(poison_ce_id(poison))].reason
            assert listed[str(good.id)].original == f"{topics.KEY_VALIDATED}[0]@0"

            async def merchants() -> int:
                return await pool.fetchval("SELECT count(*) FROM merchants WHERE merchant_id=$1", good_merchant)
            assert await merchants() == 0
            assert await core.replay_dead_letters(kafka_bootstrap, group, event_ids={str(good.id)}) == [str(good.id)]
            await eventually(lambda: _equals(merchants, 1), what="the replayed event to be applied")
            await core.replay_dead_letters(kafka_bootstrap, group, event_ids={str(good.id)})

            async def lag() -> int:
                rows = await core.consumer_lag(kafka_bootstrap, group)
                return -1 if not rows else sum(r.lag for r in rows)
            await eventually(lambda: _equals(lag, 0), timeout=60, what="the group's lag to drain")
            claimed = await pool.fetchval("SELECT count(*) FROM timeline WHERE event_id=$1", good.id)
            assert claimed == 1 and await merchants() == 1, "replayed twice, applied once"
            async def backlog() -> int:
                return (await core.backlog(dsn))[0]
            await eventually(lambda: _equals(backlog, 0), what="the relay to publish the outbox")
            cli = _cli("--bootstrap-servers", kafka_bootstrap, "lag", group)
            assert cli["group"] == group and cli["total_lag"] == 0
            assert {p["topic"] for p in cli["partitions"]} >= {topics.KEY_VALIDATED}
            assert _cli("backlog", dsn) == {"pending": 0, "oldest_age_seconds": 0.0}


def poison_ce_id(record) -> str:  # type: ignore[no-untyped-def]
    return dict(record.headers)["ce_id"].decode()


async def _has(read, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await read()) >= n


async def _equals(read, value: int) -> bool:  # type: ignore[no-untyped-def]
    return await read() == value


def _cli(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "tools.ops", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
