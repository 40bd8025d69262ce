"""The merchant's stop page on fakes, over ASGI: it stops the reminders and says how to reconnect anyway; a bad,
expired or missing link gets a clear page; nothing a visitor sends gives a 500."""

from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from notifier.connection_health import ConnectionHealth, ReminderStops
from notifier.domain.delivery import Channel, Status
from notifier.domain.incidents import ReminderSchedule
from notifier.domain.notifications import Kind
from notifier.domain.stop_links import stop_token
from notifier.entrypoints.pages import build_pages
from shared.contracts import CloudEvent, ConnectionBroken, ConnectionRestored
from shared.contracts.examples import ALL, BROKEN_AT

from .fakes import FakeClock, FakeStore

BROKEN = next(e for e in ALL if isinstance(e, ConnectionBroken))
RESTORED = next(e for e in ALL if isinstance(e, ConnectionRestored))
SECRET = b"a-reminder-link-secret-of-32-bytes!!"
UNTIL = BROKEN_AT + timedelta(days=30)


@pytest.fixture
async def page():
    store, clock = FakeStore(), FakeClock(BROKEN_AT)
    health = ConnectionHealth(store, (Channel.EMAIL,), ReminderSchedule(), clock)
    await health.broken(CloudEvent(data=BROKEN, source="/t"))
    app = FastAPI()
    app.include_router(build_pages(ReminderStops(store, SECRET, clock)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as client:
        yield client, store, health


def reminders(store: FakeStore) -> set[Status]:
    return {r.view.status for r in store.committed.rows.values() if r.view.kind is Kind.MERCHANT_REMINDER}


async def test_the_link_stops_the_reminders_and_says_how_to_reconnect_anyway(page):
    client, store, _ = page
    token = stop_token(SECRET, BROKEN.merchant_id, BROKEN.incident_id, UNTIL)
    response = await client.get("/reminders/stop", params={"token": token})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "Reminders stopped" in response.text and "any more reminders" in response.text
    assert "cannot post the sales of Steve Test Store to Xero" in response.text
    assert BROKEN.reconnect_url in response.text and "Reconnect Steve Test Store to Xero" in response.text
    assert response.headers["cache-control"] == "no-store" and response.headers["referrer-policy"] == "no-referrer"
    assert reminders(store) == {Status.CANCELLED}
    again = await client.get("/reminders/stop", params={"token": token})
    assert again.status_code == 200 and "Reminders stopped" in again.text


async def test_a_mail_clients_one_click_post_stops_them_too(page):
    client, store, _ = page
    token = stop_token(SECRET, BROKEN.merchant_id, BROKEN.incident_id, UNTIL)
    response = await client.post("/reminders/stop", params={"token": token},
                                 content=b"List-Unsubscribe=One-Click",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and reminders(store) == {Status.CANCELLED}


async def test_after_a_restoration_the_page_says_it_was_already_repaired(page):
    client, _, health = page
    await health.restored(CloudEvent(data=RESTORED, source="/t"))
    token = stop_token(SECRET, BROKEN.merchant_id, BROKEN.incident_id, UNTIL)
    response = await client.get("/reminders/stop", params={"token": token})
    assert response.status_code == 200 and "already repaired" in response.text


@pytest.mark.parametrize(("params", "status", "heading"), [
    ({}, 400, "This link does not work"),
    ({"token": ""}, 400, "This link does not work"),
    ({"token": "v1.garbage.more"}, 400, "This link does not work"),
    ({"token": "x" * 10_000}, 400, "This link does not work"),
    ({"token": "v1.\u00e9\u00e8.%00"}, 400, "This link does not work"),
    ({"token": stop_token(b"someone-elses-secret-of-32-bytes!!!", "m-1", BROKEN.incident_id, UNTIL)}, 400,
     "This link does not work"),
    ({"token": stop_token(SECRET, "m-1", BROKEN.incident_id, BROKEN_AT)}, 410, "This link has expired"),
])
async def test_a_bad_or_expired_link_gets_a_clear_page_and_changes_nothing(page, params, status, heading):
    client, store, _ = page
    response = await client.get("/reminders/stop", params=params)
    assert response.status_code == status and heading in response.text
    assert "Nothing was changed" in response.text or "expired" in response.text
    assert reminders(store) == {Status.PENDING}


async def test_the_database_away_gives_a_try_again_page_not_a_500():
    @asynccontextmanager
    async def away():
        raise ConnectionRefusedError("database away")
        yield  # pragma: no cover

    app = FastAPI()
    app.include_router(build_pages(ReminderStops(away, SECRET, FakeClock(BROKEN_AT))))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as client:
        token = stop_token(SECRET, "m-1", BROKEN.incident_id, UNTIL)
        response = await client.get("/reminders/stop", params={"token": token})
    assert response.status_code == 503 and "try again in a few minutes" in response.text
