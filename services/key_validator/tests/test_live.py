"""The whole service on real Kafka + PostgreSQL, calling the real Cloud POS sandbox over HTTP."""

import asyncio
import secrets
from datetime import UTC, datetime
from uuid import UUID

import pytest

from key_validator.handlers import SOURCE
from shared.contracts import KeyValidated, topics
from shared.delivery import from_kafka

from tests.support.kafka import eventually, read_topic

from .fakes import FakeClock
from .live import instances, key_validator

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
INTROSPECT = "/api/v1/api-keys/introspect"


def random_key() -> str:
    return "cpk_" + secrets.token_urlsafe(30)


async def outbox_drained(instance) -> bool:
    return await instance.runtime.pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE published_at IS NULL") == 0


async def test_each_validation_puts_key_validated_on_the_topic_exactly_once(sandbox, pg_dsn, kafka_bootstrap,
                                                                          unique_name):
    merchant = sandbox.add_merchant(stores=2)
    key_id, key = sandbox.issue_key(merchant)
    _, other_service = sandbox.issue_key(merchant, "bike_rental_manager", "Bike Rental Manager API Client")

    async with key_validator(sandbox, FakeClock(datetime.now(UTC)), pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                             group=unique_name("kv-once")) as kv:
        answers = [await kv.validate(key, merchant, user="u-first"), await kv.validate(key, merchant, user="u-again")]
        refused = await kv.validate(other_service, merchant)
        await eventually(lambda: outbox_drained(kv), what="the outbox relay to publish")
        records = await read_topic(kafka_bootstrap, topics.KEY_VALIDATED, key=merchant.encode(), expect=2)

    assert [a.status_code for a in answers] == [200, 200]
    assert (refused.status_code, refused.json()["code"]) == (403, "key_for_other_service")
    validation_ids = [a.json()["validation_id"] for a in answers]
    assert len(records) == 2  # one per validation; the refusal published nothing
    for record, validation_id, user in zip(records, validation_ids, ["u-first", "u-again"], strict=True):
        headers = {k: v.decode() for k, v in record.headers}
        assert {k: headers[k] for k in ("ce_specversion", "ce_type", "ce_source", "ce_id", "ce_subject",
                                        "content-type")} == {
            "ce_specversion": "1.0", "ce_type": KeyValidated.type, "ce_source": SOURCE, "ce_id": validation_id,
            "ce_subject": key_id, "content-type": "application/json"}
        assert UUID(headers["ce_correlationid"]) == UUID(validation_id)
        event = from_kafka(headers, record.value)
        assert event.data == KeyValidated(merchant_id=merchant, merchant_name=answers[0].json()["merchant_name"],
                                          key_id=key_id, key_label="Xero API Client", licence="pro_plus",
                                          stores=event.data.stores, validated_by=user)
        assert [s.store_id for s in event.data.stores] == [f"{merchant}-s1", f"{merchant}-s2"]
        assert key.encode() not in record.value and key not in str(headers)


async def test_brute_force_is_throttled_across_instances_and_the_merchant_gets_back_in(sandbox, pg_dsn,
                                                                                     kafka_bootstrap, unique_name):
    merchant = sandbox.add_merchant()
    _, key = sandbox.issue_key(merchant)
    clock = FakeClock()

    async with instances(2, sandbox, clock, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                         group=unique_name("kv-brute")) as (one, two):
        # 40 guesses at once, spread over both instances and many addresses (a botnet), at one merchant.
        guesses = await asyncio.gather(*((one, two)[i % 2].validate(random_key(), merchant, f"198.51.100.{i}")
                                         for i in range(40)))
        codes = [g.json()["code"] for g in guesses]
        assert codes.count("unknown_key") == 5 and codes.count("too_many_attempts") == 35
        assert sandbox.calls(INTROSPECT) == 5  # throttled guesses never reach Cloud POS
        waits = {int(g.headers["retry-after"]) for g in guesses if g.status_code == 429}
        assert waits == {900} and all(g.json()["retryable"] for g in guesses if g.status_code == 429)

        locked_out = await one.validate(key, merchant)
        assert (locked_out.status_code, locked_out.json()["code"]) == (429, "too_many_attempts")

        clock.advance(seconds=int(locked_out.headers["retry-after"]))
        welcome_back = await two.validate(key, merchant)
        assert welcome_back.status_code == 200, welcome_back.text

        outcomes = dict(await one.runtime.pool.fetch(
            "SELECT outcome, count(*) FROM validation_attempts WHERE merchant_id = $1 GROUP BY outcome", merchant))
    assert outcomes == {"unknown_key": 5, "too_many_attempts": 36, "validated": 1}


async def test_cloudpos_outages_answer_503_and_do_not_count_as_failures(sandbox, pg_dsn, kafka_bootstrap,
                                                                      unique_name):
    merchant = sandbox.add_merchant()
    _, key = sandbox.issue_key(merchant)
    async with key_validator(sandbox, FakeClock(), pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                             group=unique_name("kv-outage")) as kv:
        sandbox.fail_next(8, 503)
        for _ in range(8):
            response = await kv.validate(key, merchant)
            assert (response.status_code, response.json()["code"], response.json()["retryable"]) == (
                503, "cloudpos_unavailable", True)
        assert (await kv.validate(key, merchant)).status_code == 200
        assert await kv.runtime.pool.fetchval("SELECT count(*) FROM rate_limit_hits") == 0
