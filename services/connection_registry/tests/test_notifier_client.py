"""The registry's client of the notifier, against the REAL notifier HTTP API (its routes and use cases over its
PostgreSQL adapter on a real server, served in-process): what each merchant was sent, a merchant's deliveries,
the parked page oldest first with its total, re-drive true then false; and every way the notifier can fail the
console (down, silent, 5xx, our token refused, an answer it cannot read) is NotifierUnavailable, quickly."""

import socket
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from connection_registry.adapters.notifier import NotifierClient
from connection_registry.ports import NoticeLine, Notifications, NotifierUnavailable
from notifier.adapters.postgres import PgDeliveries, PgNotifierTransaction
from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import AttemptResult, Channel, Outcome, RetryPolicy
from notifier.entrypoints.routes import build_routes
from notifier.handlers import DeliveryAdmin, NotifierHandlers
from notifier.main import MIGRATIONS
from shared.contracts import CloudEvent, SetupCompleted, SetupReminderRequested
from shared.contracts.examples import ALL, LINK
from shared.delivery import DELIVERY_MIGRATIONS, apply_migrations, unit_of_work
from shared.internal_api import install_error_handlers

TOKEN = "notifier-api-token-for-tests"
REMIND = next(e for e in ALL if isinstance(e, SetupReminderRequested))
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at


class Answers:
    """A channel that answers what the test says, per merchant (delivered unless told otherwise)."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()

    async def send(self, delivery_id: UUID, notification) -> AttemptResult:  # noqa: ANN001 - any payload
        if notification.merchant_id in self.refuse:
            return AttemptResult(Outcome.PERMANENT, "HTTP 410", 410)
        return AttemptResult(Outcome.DELIVERED, "ok", 204)


class Notifier:
    """The notifier's own use cases on its own database, and its /v1 API as an ASGI app."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.clock, self.answers, deliveries = Clock(), Answers(), PgDeliveries(lambda: pool)
        self.handlers = NotifierHandlers(unit_of_work(lambda: pool, PgNotifierTransaction), (Channel.WEBHOOK,),
                                         self.clock)
        self.dispatcher = Dispatcher(deliveries, {Channel.WEBHOOK: self.answers,
                                                  Channel.MERCHANT_EMAIL: self.answers}, self.clock, RetryPolicy())
        self.app = FastAPI()
        install_error_handlers(self.app)
        self.app.include_router(build_routes(DeliveryAdmin(deliveries, self.clock), SecretStr(TOKEN)))

    async def at(self, minutes: float, *events: CloudEvent) -> None:
        """Consume `events` at START + minutes, then send what is due."""
        self.clock.at = START + timedelta(minutes=minutes)
        for event in events:
            consume = self.handlers.remind if isinstance(event.data, SetupReminderRequested) else self.handlers.notify
            await consume(event)
        while await self.dispatcher.run_once():
            pass


@pytest.fixture
async def notifier(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=5)
    await apply_migrations(pool, DELIVERY_MIGRATIONS, MIGRATIONS)
    yield Notifier(pool)
    await pool.close()


@pytest.fixture
async def client(notifier):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notifier.app)) as http:
        yield NotifierClient("http://notifier.test/", SecretStr(TOKEN), http)


def ready(merchant: str) -> CloudEvent:
    return CloudEvent(data=SetupCompleted(merchant_id=merchant, merchant_name=f"Merchant {merchant}", links=(LINK,),
                                          completed_by="u-1"), source="/tests")


def reminded(merchant: str) -> CloudEvent:
    return CloudEvent(data=REMIND.model_copy(update={"merchant_id": merchant}), source="/tests")


@pytest.mark.postgres
async def test_it_is_the_consoles_notifications_port(client):
    notifications: Notifications = client
    assert await notifications.summaries([]) == {}


@pytest.mark.postgres
async def test_what_each_merchant_was_sent_and_a_merchants_deliveries_newest_first(notifier, client):
    notifier.answers.refuse = {"m-b"}
    await notifier.at(0, ready("m-a"), ready("m-b"))
    await notifier.at(5, reminded("m-a"))
    await notifier.at(9, reminded("m-a"), reminded("m-b"))

    found = await client.summaries(["m-a", "m-b", "m-none", "m-a"])
    assert set(found) == {"m-a", "m-b"}
    a, b = found["m-a"], found["m-b"]
    assert (a.emails_sent, a.reminders_sent, a.setup_reminders_sent, a.parked) == (2, 0, 2, 0)
    assert a.last_sent_at == START + timedelta(minutes=9)
    assert (b.emails_sent, b.setup_reminders_sent, b.last_sent_at, b.parked) == (0, 0, None, 2)

    lines = await client.sent_to("m-a", 10)
    assert [(line.kind, line.channel, line.status) for line in lines] == [
        ("merchant.setup_reminder", "merchant_email", "delivered"),
        ("merchant.setup_reminder", "merchant_email", "delivered"),
        ("integration.ready_to_finalise", "webhook", "delivered")]
    assert lines[0].created_at == START + timedelta(minutes=9) and lines[0].delivered_at is not None
    assert [line.kind for line in await client.sent_to("m-a", 1)] == ["merchant.setup_reminder"]
    assert await client.sent_to("m-none", 10) == []


@pytest.mark.postgres
async def test_many_merchants_are_asked_a_hundred_at_a_time(notifier, client):
    await notifier.at(0, *(ready(f"m-{n:03d}") for n in range(150)))
    found = await client.summaries([f"m-{n:03d}" for n in range(250)])
    assert sorted(found) == [f"m-{n:03d}" for n in range(150)]


@pytest.mark.postgres
async def test_the_parked_page_is_oldest_parked_first_with_its_total_and_redrives_once(notifier, client):
    notifier.answers.refuse = {"m-1", "m-2", "m-3"}
    await notifier.at(0, ready("m-2"))
    await notifier.at(1, ready("m-1"))
    await notifier.at(2, ready("m-3"), reminded("m-1"))

    page = await client.parked(2, 0)
    assert page.total == 4 and [line.merchant_id for line in page.lines] == ["m-2", "m-1"]
    assert all(isinstance(line, NoticeLine) and line.status == "parked" for line in page.lines)
    assert page.lines[0].parked_at == START and "HTTP 410" in page.lines[0].last_error
    rest = await client.parked(2, 2)
    assert rest.total == 4 and {line.merchant_id for line in rest.lines} == {"m-1", "m-3"}
    assert {line.kind for line in rest.lines} == {"integration.ready_to_finalise", "merchant.setup_reminder"}

    first = page.lines[0].delivery_id
    notifier.answers.refuse = set()
    assert await client.redrive(first) is True
    assert await client.redrive(first) is False                       # pending now: nothing is sent twice
    await notifier.at(3)
    assert await client.redrive(first) is False                       # delivered
    assert (await client.parked(10, 0)).total == 3
    assert await client.redrive(uuid4()) is False                     # unknown: nothing was resent


@pytest.mark.postgres
async def test_a_wrong_token_is_unavailable(notifier):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notifier.app)) as http:
        wrong = NotifierClient("http://notifier.test", "not-the-notifier-token", http)
        for call in (wrong.summaries(["m-1"]), wrong.sent_to("m-1", 5), wrong.parked(5, 0), wrong.redrive(uuid4())):
            with pytest.raises(NotifierUnavailable):
                await call


async def test_a_notifier_that_is_down_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                                     # nothing listens there once closed
    async with httpx.AsyncClient() as http:
        down = NotifierClient(f"http://127.0.0.1:{port}", TOKEN, http)
        for call in (down.summaries(["m-1"]), down.sent_to("m-1", 5), down.parked(5, 0), down.redrive(uuid4())):
            with pytest.raises(NotifierUnavailable):
                await call


async def test_a_notifier_that_never_answers_is_unavailable_within_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()                                               # connections queue; nothing is ever read
        async with httpx.AsyncClient() as http:
            slow = NotifierClient(f"http://127.0.0.1:{silent.getsockname()[1]}", TOKEN, http, timeout=0.3)
            started = time.monotonic()
            with pytest.raises(NotifierUnavailable, match="Timeout"):
                await slow.parked(5, 0)
            assert time.monotonic() - started < 2


async def test_every_call_is_bounded_by_two_seconds_whatever_the_shared_clients_default():
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.extensions["timeout"])
        return httpx.Response(200, json=[])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), timeout=30) as http:
        await NotifierClient("http://notifier.test", TOKEN, http).sent_to("m-1", 5)
    assert asked == [{"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}]


@pytest.mark.parametrize(("status", "body"), [
    (500, {"code": "internal_error", "message": "x", "retryable": True}),
    (503, "<html>bad gateway</html>"),
    (401, {"code": "unauthorized", "message": "A valid bearer token is required.", "retryable": False}),
    (200, "<html>a login page</html>"),
    (200, {"unexpected": True}),
    (200, [{"merchant_id": "m-1", "emails_sent": "many"}]),
    (404, {"detail": "Not Found"}),                                   # a wrong base URL, not an unknown delivery
])
async def test_anything_but_a_readable_answer_is_unavailable(status, body):
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return httpx.Response(status, json=body) if not isinstance(body, str) else httpx.Response(status, text=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        broken = NotifierClient("http://notifier.test", TOKEN, http)
        for call in (broken.summaries(["m-1"]), broken.sent_to("m-1", 5), broken.parked(5, 0),
                     broken.redrive(uuid4())):
            with pytest.raises(NotifierUnavailable):
                await call
