"""Personal data on real Kafka and PostgreSQL, with the Vault sandbox as the key store (docs/personal-data.md):
key_validator's relay publishes events whose record bytes hold no personal value in clear (its outbox rows
stay as written); a consumer gets the names back; after `forget`, a fresh consumer (a replay, a rebuild) reads
them as erased, still applying the events, and the pseudonyms can no longer be linked to the real ids."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from key_validator.main import build_app as build_key_validator
from key_validator.settings import KeyValidatorSettings
from sandboxes.vault import VaultSandboxSettings
from sandboxes.vault import build_app as build_vault
from connection_registry.rebuild import rebuild
from shared.contracts import CloudEvent, ConnectionBroken, KeyValidated, StoreConnected
from shared.contracts.examples import ALL, STEVE, key_validated
from shared.delivery import transaction
from shared.personal_data import ERASED, PersonalData, pseudonym
from shared.personal_data.vault import VaultTransitKeys, personal_data_from
from shared.runtime import ServiceRuntime
from shared.settings import DatabaseSettings, KafkaSettings, PersonalDataSettings
from local_infra.postgres import temporary_database

from .support.http import served
from .support.kafka import eventually, read_topic
from .support.services import running

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TOKEN = "vault-token-for-personal-data-tests"
CLEAR = (STEVE.name.encode(), STEVE.email.encode(), str(STEVE.xero_userid).encode(), b'"u-1"')


@pytest.fixture(scope="module")
def vault_url() -> Iterator[str]:
    with served(build_vault(VaultSandboxSettings(root_token=TOKEN))) as url:
        yield url


@pytest.fixture
def personal(vault_url: str) -> PersonalDataSettings:
    return PersonalDataSettings(vault_url=vault_url, vault_token=TOKEN, cache_seconds=60)


@pytest.fixture
async def key_validator(pg_dsn, kafka_bootstrap, unique_name, personal):
    async with running(build_key_validator, KeyValidatorSettings, pg_dsn=pg_dsn,
                       kafka_bootstrap=kafka_bootstrap, group=unique_name("key-validator"),
                       cloudpos={"base_url": "http://127.0.0.1:9", "platform_token": "unused-platform-token"},
                       api_token="unused-api-token-0123456789", personal_data=personal,
                       key_fingerprint_secret="unused-fingerprint-secret-0123456789abcdef") as runtime:
        yield runtime


@asynccontextmanager
async def consumer(pg_dsn: str, kafka: str, group: str, personal: PersonalDataSettings | None,
                   seen: list[CloudEvent]) -> AsyncIterator[ServiceRuntime]:
    """Any service's consumer, as the delivery kit runs it (inbox, batches), recording what its handler gets."""
    async with temporary_database(pg_dsn, prefix=group.replace("-", "_")[:40]) as dsn:
        runtime = ServiceRuntime(group, database=DatabaseSettings(url=dsn), migrations=(),
                                 kafka=KafkaSettings(bootstrap_servers=kafka, consumer_group=group),
                                 personal_data=personal)

        async def record(event: CloudEvent) -> None:
            seen.append(event)

        runtime.consumes(ConnectionBroken, record, "test")
        runtime.consumes(KeyValidated, record, "test")
        await runtime.start()
        try:
            yield runtime
        finally:
            await runtime.stop()


async def _publish(runtime: ServiceRuntime, merchant: str) -> list[CloudEvent]:
    broken = next(e for e in ALL if isinstance(e, ConnectionBroken)).model_copy(update={"merchant_id": merchant})
    events = [CloudEvent(data=key_validated(merchant), source="/tests"), CloudEvent(data=broken, source="/tests")]
    async with transaction(runtime.pool) as tx:
        for event in events:
            await tx.publish(event)
    published = "SELECT count(*) = 2 FROM delivery_outbox WHERE event_id = ANY($1) AND published_at IS NOT NULL"
    await eventually(lambda: runtime.pool.fetchval(published, [e.id for e in events]), what="the relay to publish")
    return events


def _mine(seen: list[CloudEvent], merchant: str) -> dict[str, CloudEvent]:
    return {e.type.split(".")[-2]: e for e in seen if e.data.merchant_id == merchant}


async def test_records_hold_no_personal_value_in_clear_and_consumers_get_them_back(
        key_validator, kafka_bootstrap, pg_dsn, unique_name, personal):
    merchant = unique_name("m")
    await _publish(key_validator, merchant)

    for topic in (KeyValidated.topic, ConnectionBroken.topic):
        [record] = await read_topic(kafka_bootstrap, topic, key=merchant.encode(), expect=1)
        assert not [clear for clear in CLEAR if clear in record.value], (topic, record.value)
    rows = await key_validator.pool.fetch("SELECT value FROM delivery_outbox WHERE record_key = $1", merchant.encode())
    assert any(STEVE.name.encode() in row["value"] for row in rows)    # the producer's own rows stay as written

    seen: list[CloudEvent] = []
    async with consumer(pg_dsn, kafka_bootstrap, unique_name("reader"), personal, seen):
        await eventually(lambda: _count(seen, merchant, 2), what="the consumer to read both events")
    got = _mine(seen, merchant)
    assert got["ConnectionBroken"].data.authorised_by.name == STEVE.name
    assert got["ConnectionBroken"].data.authorised_by.email == STEVE.email
    assert got["KeyValidated"].data.validated_by.startswith("pn1.")       # a pseudonym stays a pseudonym


async def test_after_forget_a_replay_reads_erased_values_and_pseudonyms_link_to_nobody(
        key_validator, kafka_bootstrap, pg_dsn, unique_name, personal):
    merchant = unique_name("m")
    await _publish(key_validator, merchant)
    before: list[CloudEvent] = []
    async with consumer(pg_dsn, kafka_bootstrap, unique_name("before"), personal, before):
        await eventually(lambda: _count(before, merchant, 2), what="a first read")
    pseudonym_before = _mine(before, merchant)["KeyValidated"].data.validated_by

    await key_validator.personal_data.forget(merchant)

    replay: list[CloudEvent] = []
    async with consumer(pg_dsn, kafka_bootstrap, unique_name("replay"), personal, replay):   # handled: not parked
        await eventually(lambda: _count(replay, merchant, 2), what="the replay to apply both events")
    got = _mine(replay, merchant)
    user = got["ConnectionBroken"].data.authorised_by
    assert (user.name, user.email) == (ERASED, ERASED)
    assert user.xero_userid != STEVE.xero_userid
    assert got["KeyValidated"].data.validated_by == pseudonym_before                  # still the same token...
    keys = VaultTransitKeys(personal)
    try:
        assert await keys.find(merchant) is None                                       # ...its key is gone
        assert pseudonym(await keys.find_or_create(merchant), "u-1") != pseudonym_before   # nobody can remake it
    finally:
        await keys.aclose()


async def _count(seen: list[CloudEvent], merchant: str, n: int) -> bool:
    return len(_mine(seen, merchant)) >= n


async def test_the_registry_rebuild_reads_the_names_back(key_validator, kafka_bootstrap, fresh_database, unique_name,
                                                        personal):
    merchant = unique_name("m")
    connected = next(e for e in ALL if isinstance(e, StoreConnected)).model_copy(
        update={"merchant_id": merchant, "authorised_by": STEVE})
    async with transaction(key_validator.pool) as tx:
        await tx.publish(CloudEvent(data=key_validated(merchant), source="/tests"))
        await tx.publish(CloudEvent(data=connected, source="/tests"))
    await read_topic(kafka_bootstrap, StoreConnected.topic, key=merchant.encode(), expect=1)
    reader = personal_data_from(personal)
    assert isinstance(reader, PersonalData)

    try:
        await rebuild(fresh_database, kafka_bootstrap, unique_name("rebuild"), personal_data=reader)
    finally:
        await reader.aclose()

    conn = await asyncpg.connect(fresh_database)
    try:
        row = await conn.fetchrow("SELECT authorised_by_name, authorised_by_email FROM organisations"
                                  " WHERE merchant_id = $1", merchant)
    finally:
        await conn.close()
    assert (row["authorised_by_name"], row["authorised_by_email"]) == (STEVE.name, STEVE.email)
