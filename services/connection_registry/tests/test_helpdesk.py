"""The helpdesk pages over fakes: sign-in, the awaiting list with its map, CSRF, finalise and resend."""

import re
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest

from connection_registry.handlers import RegistryHandlers
from connection_registry.main import build_http
from shared.contracts import SetupCompleted, SetupFinalised

from .fakes import HELPDESK_TOKEN, SETTINGS, StepClock
from .journey import ORG_A, STEVE, Journey

INCIDENT = UUID("00000000-0000-4000-8000-00000000000a")


@pytest.fixture
async def browser(handlers):
    app = build_http(handlers, SETTINGS, clock=StepClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
        yield client


async def completed(handlers: RegistryHandlers) -> None:
    for event in Journey().connected():
        await handlers.handle(event)
    await handlers.complete("m-1", "u-1", None)


async def sign_in(browser: httpx.AsyncClient, token: str = HELPDESK_TOKEN) -> httpx.Response:
    return await browser.post("/helpdesk/login", data={"helpdesk_id": "hd-ann", "token": token})


def csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]


async def test_pages_need_a_signed_in_helpdesk_user(browser):
    assert (await browser.get("/helpdesk/")).headers["location"] == "/helpdesk/login"
    refused = await sign_in(browser, token="not-the-helpdesk-token")
    assert refused.status_code == 401 and "Wrong helpdesk ID or token." in refused.text
    assert (await browser.get("/helpdesk/")).status_code == 303


async def test_the_list_shows_merchants_awaiting_finalisation_with_their_map(browser, handlers):
    await completed(handlers)
    signed_in = await sign_in(browser)
    assert signed_in.status_code == 303
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    assert "samesite=strict" in signed_in.headers["set-cookie"].lower()

    page = await browser.get("/helpdesk/")

    assert page.status_code == 200 and "Signed in as hd-ann" in page.text
    assert "Steve&#39;s Cycles" in page.text and "m-1" in page.text
    assert page.text.count("Steve&#39;s Cycles Ltd") == 2 and "Steve&#39;s Rentals Ltd" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_mark_finalised_publishes_setup_finalised_as_the_signed_in_user(browser, handlers, uow):
    await completed(handlers)
    await sign_in(browser)
    token = csrf(await browser.get("/helpdesk/"))

    done = await browser.post("/helpdesk/merchants/m-1/finalise", data={"csrf": token})
    again = await browser.post("/helpdesk/merchants/m-1/finalise", data={"csrf": token})

    assert done.headers["location"] == "/helpdesk/?notice=finalised"
    assert again.headers["location"] == "/helpdesk/?notice=already_finalised"
    (event,) = uow.committed.published(SetupFinalised)
    assert event.data.finalised_by == "hd-ann"
    assert "No merchant is waiting for finalisation." in (await browser.get("/helpdesk/")).text


async def test_resend_publishes_the_completion_again_under_a_new_id(browser, handlers, uow):
    await completed(handlers)
    await sign_in(browser)

    resent = await browser.post("/helpdesk/merchants/m-1/resend", data={"csrf": csrf(await browser.get("/helpdesk/"))})

    assert resent.headers["location"] == "/helpdesk/?notice=resent"
    first, second = uow.committed.published(SetupCompleted)
    assert second.id != first.id and second.causation_id == first.id


async def test_a_post_without_the_csrf_token_does_nothing(browser, handlers, uow):
    await completed(handlers)
    await sign_in(browser)

    forged = await browser.post("/helpdesk/merchants/m-1/finalise", data={"csrf": "0" * 64})
    missing = await browser.post("/helpdesk/merchants/m-1/resend")

    assert forged.headers["location"] == missing.headers["location"] == "/helpdesk/?notice=bad_form"
    assert len(uow.committed.outbox) == 1  # the completion only


async def test_a_merchant_page_shows_the_timeline_and_sign_out_ends_the_session(browser, handlers):
    await completed(handlers)
    await sign_in(browser)

    page = await browser.get("/helpdesk/merchants/m-1")
    unknown = await browser.get("/helpdesk/merchants/m-404")
    out = await browser.post("/helpdesk/logout", data={"csrf": csrf(page)})

    assert "Setup completed: 3 store(s) connected to 2 organisation(s)" in page.text
    assert unknown.status_code == 404
    assert out.headers["location"] == "/helpdesk/login"
    assert (await browser.get("/helpdesk/")).status_code == 303


async def broken_after_completion(handlers: RegistryHandlers) -> Journey:
    j = Journey()
    kv, sc1, _, os2, sc3, os3 = j.connected()
    for event in [kv, sc1, j.org_selected("s-1", ORG_A, "g-1", authorised_by=STEVE), os2, sc3, os3]:
        await handlers.handle(event)
    await handlers.complete("m-1", "u-1", None)
    await handlers.handle(j.broken("s-1", ORG_A, INCIDENT, since=datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
    return j


async def test_a_broken_store_shows_reconnect_needed_with_reason_since_and_who_authorised(browser, handlers):
    await broken_after_completion(handlers)
    await sign_in(browser)

    for path in ("/helpdesk/", "/helpdesk/merchants/m-1"):
        page = (await browser.get(path)).text
        assert ("Reconnect needed — the app was removed inside Xero, since 2026-03-02 09:30 UTC" in page), path
        assert "Steve Tester" in page and "steve@xero-demo.test" in page, path
    merchant = (await browser.get("/helpdesk/merchants/m-1")).text
    assert "Store 1 needs reconnecting: the app was removed inside Xero" in merchant  # the timeline
    assert merchant.count("Reconnect needed — ") == 2  # the map line (it stays) and the store's own line


async def test_connections_needing_attention_lists_broken_stores_of_finalised_merchants_too(browser, handlers):
    j = await broken_after_completion(handlers)
    await handlers.finalise("m-1", "hd-ann")
    await sign_in(browser)

    home = (await browser.get("/helpdesk/")).text
    page = await browser.get("/helpdesk/attention")

    assert '<a href="/helpdesk/attention">Connections needing attention</a>' in home
    assert "1 merchant(s) have a" in home
    assert page.status_code == 200
    assert "<h2>Connections needing attention (1 merchant)</h2>" in page.text
    assert "<caption>Stores that need reconnecting, by merchant, longest broken first</caption>" in page.text
    assert re.search(r"Store 1 .*?s-1.*?Steve&#39;s Cycles Ltd.*?Reconnect needed — the app was removed inside "
                     r"Xero.*?2026-03-02 09:30 UTC.*?Steve Tester.*?Finalised", page.text, re.S)

    await handlers.handle(j.restored("s-1", ORG_A, INCIDENT, datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))

    assert "No connection needs attention." in (await browser.get("/helpdesk/attention")).text
    assert "Reconnect needed" not in (await browser.get("/helpdesk/merchants/m-1")).text


async def test_the_attention_page_needs_a_signed_in_helpdesk_user(browser):
    assert (await browser.get("/helpdesk/attention")).headers["location"] == "/helpdesk/login"


async def test_every_table_is_labelled_and_headed(browser, handlers):
    await broken_after_completion(handlers)
    await sign_in(browser)

    for path in ("/helpdesk/", "/helpdesk/merchants/m-1", "/helpdesk/attention"):
        page = (await browser.get(path)).text
        tables = page.count("<table>")
        assert tables and page.count("<caption>") == tables and page.count("<thead>") == tables, path
        assert "<h1>" in page and "<h2>" in page and "<main>" in page, path


async def test_thousands_awaiting_are_listed_a_page_at_a_time_longest_waiting_first(browser, handlers):
    for n in range(1, 121):
        merchant = f"m-{n:03}"
        for event in Journey(merchant).connected():
            await handlers.handle(event)
        await handlers.complete(merchant, "u-1", None)
    await sign_in(browser)

    first, last = await browser.get("/helpdesk/"), await browser.get("/helpdesk/?page=3")

    assert "Merchants awaiting finalisation (120)" in first.text and "Showing 1–50 of 120" in first.text
    assert first.text.count("Mark finalised") == 50 and 'href="/helpdesk/?page=2">Next 50' in first.text
    assert "m-001" in first.text and "m-051" not in first.text and "Previous" not in first.text
    assert last.text.count("Mark finalised") == 20 and "Showing 101–120 of 120" in last.text
    assert 'href="/helpdesk/?page=2">Previous 50' in last.text and "Next 50" not in last.text
    assert (await browser.get("/helpdesk/?page=0")).status_code == 400          # the registry maps 422 to 400
