"""Production Kafka's protection against a real broker: SASL_SSL with SCRAM-SHA-512 and the ACLs of the production
overlay (generated from the same declarations, `tools.kafka_acls.service_acls`), applied by the StandardAuthorizer.

Each service's clients are built from `KafkaSettings` exactly as in production (`shared.kafka_clients`): its
outbox producer writes its own topic; another service's topic (a forged SetupFinalised from the gateway) is
refused; plaintext, TLS-without-SASL and wrong-password clients cannot even connect; a consumer reads its topics
in its group, and no other group.
"""

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, KafkaConnectionError, TopicAuthorizationFailedError

from shared.contracts import topics
from shared.contracts.topics import dead_letter_topic
from shared.delivery import idempotent_producer
from shared.kafka_clients import client_options
from shared.runtime import ServiceRuntime
from shared.settings import DatabaseSettings, KafkaSettings
from tests.support.secure_kafka import SecureKafkaBroker
from tools.kafka_acls import committed_acls, kafka_user

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
GATEWAY, REGISTRY = kafka_user("oauth_gateway"), kafka_user("connection_registry")
VALIDATOR, NOTIFIER = kafka_user("key_validator"), kafka_user("notifier")


@pytest.fixture(scope="module")
async def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureKafkaBroker]:
    acls = committed_acls()   # the overlay's; tests/test_k8s_manifests.py holds them to the code's declarations
    broker = SecureKafkaBroker(Path(tmp_path_factory.mktemp("secure-kafka")),
                               {user: secrets.token_urlsafe(16) for user in acls})
    await asyncio.to_thread(broker.start)
    try:
        for user, user_acls in acls.items():
            for acl in user_acls:
                await broker.allow(f"User:{user}", acl.resource, acl.name, acl.operations)
        named = {acl.name for user_acls in acls.values() for acl in user_acls if acl.resource == "topic"}
        await broker.create_topics(named | {topics.SETUP_FINALISED, dead_letter_topic("notifier")})
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


async def _send(settings: KafkaSettings, topic: str, value: bytes) -> None:
    producer = idempotent_producer(settings, "security-test")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=b"merchant-1")
    finally:
        await producer.stop()


async def test_a_service_publishes_its_own_topic_with_its_own_user(secure_kafka: SecureKafkaBroker) -> None:
    await _send(secure_kafka.settings(VALIDATOR), topics.KEY_VALIDATED, b"validated")
    await _send(secure_kafka.settings(REGISTRY), topics.SETUP_FINALISED, b"finalised by the registry")


async def test_a_forged_event_on_another_services_topic_is_refused(secure_kafka: SecureKafkaBroker) -> None:
    for forged in (topics.SETUP_FINALISED, topics.KEY_VALIDATED, dead_letter_topic("notifier")):
        with pytest.raises(TopicAuthorizationFailedError):
            await _send(secure_kafka.settings(GATEWAY), forged, b"forged")


async def test_plaintext_anonymous_and_wrong_password_clients_are_refused(secure_kafka: SecureKafkaBroker) -> None:
    plaintext = KafkaSettings(bootstrap_servers=secure_kafka.bootstrap_servers)
    tls_only = KafkaSettings(bootstrap_servers=secure_kafka.bootstrap_servers, security_protocol="SSL",
                             ssl_ca_file=secure_kafka.pki.ca_file)
    wrong = secure_kafka.settings(GATEWAY, password="not-the-password")
    for refused in (plaintext, tls_only, wrong):
        producer = AIOKafkaProducer(**client_options(refused), request_timeout_ms=3000)
        with pytest.raises(KafkaConnectionError):
            await producer.start()
        await producer.stop()


async def test_a_consumer_reads_its_topics_in_its_group_only(secure_kafka: SecureKafkaBroker) -> None:
    """The notifier's own runtime broker (FastStream, security from KafkaSettings) gets what the registry wrote."""
    marker = f"completed-{time.monotonic_ns()}".encode()
    runtime = ServiceRuntime("notifier", database=DatabaseSettings(url="postgresql://unused/notifier"),
                             kafka=secure_kafka.settings(NOTIFIER), migrations=())
    received: asyncio.Queue[bytes] = asyncio.Queue()

    @runtime.broker.subscriber(topics.SETUP_COMPLETED, group_id=runtime.consumer_group, auto_offset_reset="earliest")
    async def _got(body: bytes) -> None:
        await received.put(body)

    await _send(secure_kafka.settings(REGISTRY), topics.SETUP_COMPLETED, marker)
    await runtime.broker.start()
    try:
        async with asyncio.timeout(30):
            while (body := await received.get()) != marker:
                pass
    finally:
        await runtime.broker.stop()
    stranger = AIOKafkaConsumer(topics.SETUP_COMPLETED, **client_options(secure_kafka.settings(NOTIFIER)),
                                group_id="connection_registry", auto_offset_reset="earliest")
    with pytest.raises(GroupAuthorizationFailedError):
        await stranger.start()
        await asyncio.wait_for(stranger.getone(), 15)
    await stranger.stop()


async def test_on_call_tools_connect_as_the_ops_super_user(secure_kafka: SecureKafkaBroker) -> None:
    """tools.ops and the registry rebuild take the same KafkaSettings (from KAFKA_* in production)."""
    from connection_registry.rebuild import REPLAYED, _partitions
    from tools.ops import core

    ops = secure_kafka.settings(secure_kafka.super_user)
    assert await core.read_dead_letters(ops, "notifier", timeout=10) == []
    assert isinstance(await core.consumer_lag(ops, "notifier"), list)
    assert {tp.topic for tp in await _partitions(ops)} == set(REPLAYED) & {
        acl.name for acls in committed_acls().values() for acl in acls}
