"""The helpdesk console over fakes: staff sign-in (OpenID Connect code flow, server-side sessions, roles), the
queues, search, the merchant page, and the actions with their audit rows."""

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest

from connection_registry.handlers import RegistryHandlers
from connection_registry.main import build_http
from connection_registry.ports import NoticeLine, NoticeSummary
from shared.contracts import SetupCompleted, SetupFinalised, SetupReminderRequested

from .console_fakes import ALICE, LENA, SAM, FakeIdentityProvider, FakeNotifications, FakeStaffStore
from .fakes import SETTINGS, FakeReads, StepClock
from .journey import ORG_A, STEVE, Journey

INCIDENT = UUID("00000000-0000-4000-8000-00000000000a")
ALICE_EMAIL = "alice.agent@helpdesk.test"


class Console:
    """The console app over fakes, and one browser (cookie jar) per staff member."""

    def __init__(self, handlers: RegistryHandlers, uow, clock: StepClock) -> None:  # noqa: ANN001
        self.idp, self.staff, self.notifier, self.clock = FakeIdentityProvider(), FakeStaffStore(), \
            FakeNotifications(), clock
        self.app = build_http(handlers, FakeReads(uow), SETTINGS, provider=self.idp, staff=self.staff,
                              notifications=self.notifier, clock=clock)

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://registry")

    async def sign_in(self, browser: httpx.AsyncClient, user: dict | None = None) -> httpx.Response:
        if user:
            self.idp.next_user = user
        start = await browser.get("/helpdesk/sign-in")
        assert start.status_code == 303, start.text
        return await browser.get("/helpdesk/callback", params=self.idp.callback_query(start.headers["location"]))

    async def later(self, browser: httpx.AsyncClient, by: timedelta | None = None, *, at: datetime | None = None) -> None:
        """Move the clock (days, say) and sign in again: the session would have ended meanwhile."""
        self.clock.now = at or self.clock.now + by  # type: ignore[operator]
        await self.sign_in(browser)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def handlers(uow, clock) -> RegistryHandlers:  # noqa: ANN001
    return RegistryHandlers(uow, FakeReads(uow), clock=clock)


@pytest.fixture
def console(handlers, uow, clock) -> Console:  # noqa: ANN001
    return Console(handlers, uow, clock)


@pytest.fixture
async def browser(console):  # noqa: ANN001
    async with console.browser() as client:
        yield client


@pytest.fixture
async def signed_in(console, browser):  # noqa: ANN001
    assert (await console.sign_in(browser)).headers["location"] == "/helpdesk/"
    return browser


async def completed(handlers: RegistryHandlers, merchant: str = "m-1") -> None:
    for event in Journey(merchant).connected():
        await handlers.handle(event)
    await handlers.complete(merchant, "u-1", None)


def csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]


# -- sign-in, sessions, roles ---------------------------------------------------------------------------------
async def test_pages_need_a_signed_in_staff_member_and_the_login_page_offers_the_company_sign_in(browser):
    for path in ("/helpdesk/", "/helpdesk/attention", "/helpdesk/unfinished", "/helpdesk/parked",
                 "/helpdesk/search?q=x", "/helpdesk/merchants/m-1", "/helpdesk/sessions"):
        assert (await browser.get(path)).headers["location"] == "/helpdesk/login", path
    login = await browser.get("/helpdesk/login")
    assert 'href="/helpdesk/sign-in"' in login.text and "Sign in with your staff account" in login.text
    assert "helpdesk_id" not in login.text and "token" not in login.text     # nothing to type an identity into


async def test_signing_in_opens_a_server_side_session_named_after_the_id_token(console, browser):
    start = await browser.get("/helpdesk/sign-in")
    assert start.headers["location"].startswith("http://staff-idp.test/authorize?")
    assert "httponly" in start.headers["set-cookie"].lower() and "samesite=lax" in start.headers["set-cookie"].lower()

    back = await browser.get("/helpdesk/callback", params=console.idp.callback_query(start.headers["location"]))

    cookie = back.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith("registry_staff="))
    assert back.headers["location"] == "/helpdesk/"
    assert "httponly" in session_cookie.lower() and "samesite=lax" in session_cookie.lower()
    token = session_cookie.split(";")[0].split("=", 1)[1]
    assert all(token.encode() not in key for key in console.staff.sessions)          # only a hash is kept
    page = await browser.get("/helpdesk/")
    assert "Signed in as Alice Agent (alice.agent@helpdesk.test, helpdesk agent)" in page.text
    assert [(a.actor, a.action, a.outcome) for a in console.staff.audit_rows] == [(ALICE_EMAIL, "sign_in", "done")]


async def test_a_callback_that_did_not_start_in_this_browser_or_comes_twice_is_refused(console, browser):
    start = await browser.get("/helpdesk/sign-in")
    query = console.idp.callback_query(start.headers["location"])
    async with console.browser() as other:
        elsewhere = await other.get("/helpdesk/callback", params=query)     # no sign-in cookie: login CSRF
    assert elsewhere.status_code == 400 and "started in another browser" in elsewhere.text

    first = await browser.get("/helpdesk/callback", params=query)
    browser.cookies.set("registry_sign_in", query["state"], path="/helpdesk")
    replayed = await browser.get("/helpdesk/callback", params=query)

    assert first.status_code == 303 and replayed.status_code == 400
    assert len(console.staff.sessions) == 1


async def test_the_provider_saying_no_or_failing_leaves_no_session(console, browser):
    start = await browser.get("/helpdesk/sign-in")
    query = console.idp.callback_query(start.headers["location"])
    denied = await browser.get("/helpdesk/callback", params={"state": query["state"], "error": "access_denied"})
    console.idp.failure = "invalid_token"
    start = await browser.get("/helpdesk/sign-in")
    forged = await browser.get("/helpdesk/callback", params=console.idp.callback_query(start.headers["location"]))
    console.idp.failure = "unavailable"
    down = await browser.get("/helpdesk/sign-in")

    assert denied.status_code == 400 and "did not sign you in" in denied.text
    assert forged.status_code == 400 and "could not be verified" in forged.text
    assert down.status_code == 503 and "not answering" in down.text
    assert console.staff.sessions == {}


async def test_staff_without_a_helpdesk_role_are_refused_and_the_refusal_is_audited(console, browser):
    refused = await console.sign_in(browser, SAM)

    assert refused.status_code == 403 and "no helpdesk role" in refused.text
    assert console.staff.sessions == {}
    assert [(a.actor, a.action, a.outcome) for a in console.staff.audit_rows] == [
        ("sam.sales@cloudpos.test", "sign_in", "no_role")]


async def test_signing_out_ends_the_session_on_the_server_so_the_old_cookie_is_refused(console, signed_in):
    old = signed_in.cookies.get("registry_staff", path="/helpdesk")
    page = await signed_in.get("/helpdesk/")

    out = await signed_in.post("/helpdesk/logout", data={"csrf": csrf(page)})

    assert out.headers["location"].startswith("http://staff-idp.test/end_session")   # the provider's session too
    async with console.browser() as replay:
        replay.cookies.set("registry_staff", old, path="/helpdesk")
        assert (await replay.get("/helpdesk/")).headers["location"] == "/helpdesk/login"
    assert [a.action for a in console.staff.audit_rows] == ["sign_in", "sign_out"]


async def test_sessions_end_after_the_idle_time_and_the_lifetime(console, signed_in):
    console.clock.now += timedelta(minutes=59)
    assert (await signed_in.get("/helpdesk/")).status_code == 200        # seen: the idle time starts again
    console.clock.now += timedelta(minutes=61)
    assert (await signed_in.get("/helpdesk/")).status_code == 303

    await console.sign_in(signed_in)
    for _ in range(9):                                                  # busy all day: 8 h is the limit anyway
        console.clock.now += timedelta(minutes=55)
        last = await signed_in.get("/helpdesk/")
    assert last.status_code == 303


async def test_a_lead_ends_an_agents_session_and_an_agent_cannot(console, signed_in):
    async with console.browser() as lead:
        await console.sign_in(lead, LENA)
        sessions = await lead.get("/helpdesk/sessions")
        alice = re.search(r'action="/helpdesk/sessions/([0-9a-f-]+)/end"[^<]*<input type="hidden" name="csrf" '
                          r'value="[0-9a-f]+">\s*<input type="hidden" name="back" value="/helpdesk/sessions">\s*'
                          r'<button type="submit" aria-label="End session: Alice Agent"', sessions.text)
        assert sessions.status_code == 200 and alice, sessions.text
        ended = await lead.post(f"/helpdesk/sessions/{alice.group(1)}/end",
                                data={"csrf": csrf(sessions), "back": "/helpdesk/sessions"})
        assert ended.headers["location"] == "/helpdesk/sessions?notice=session_ended"

    assert (await signed_in.get("/helpdesk/")).headers["location"] == "/helpdesk/login"
    await console.sign_in(signed_in, ALICE)
    page = await signed_in.get("/helpdesk/")
    assert (await signed_in.get("/helpdesk/sessions")).status_code == 403
    lena_session = next(s.session_id for s in console.staff.sessions.values() if s.member.subject == "u-lena")
    refused = await signed_in.post(f"/helpdesk/sessions/{lena_session}/end", data={"csrf": csrf(page)})
    assert refused.headers["location"] == "/helpdesk/?notice=forbidden"
    assert console.staff.audit_rows[-1].action == "end_session" and console.staff.audit_rows[-1].outcome == "forbidden"


# -- actions ----------------------------------------------------------------------------------------------------
async def test_mark_finalised_records_the_id_tokens_identity_and_there_is_no_field_to_forge(console, handlers, uow,
                                                                                           signed_in):
    await completed(handlers)
    token = csrf(await signed_in.get("/helpdesk/"))

    done = await signed_in.post("/helpdesk/merchants/m-1/finalise",
                                data={"csrf": token, "helpdesk_id": "lena.lead", "finalised_by": "lena.lead",
                                      "actor": "someone-else"})
    again = await signed_in.post("/helpdesk/merchants/m-1/finalise", data={"csrf": token})

    assert done.headers["location"] == "/helpdesk/?notice=finalised"
    assert again.headers["location"] == "/helpdesk/?notice=already_finalised"
    (event,) = uow.committed.published(SetupFinalised)
    assert event.data.finalised_by == ALICE_EMAIL
    assert uow.committed.timeline_of("m-1")[-1].actor == ALICE_EMAIL
    audit = [(a.actor, a.action, a.merchant_id, a.outcome) for a in console.staff.audit_rows[1:]]
    assert audit == [(ALICE_EMAIL, "finalise", "m-1", "done"), (ALICE_EMAIL, "finalise", "m-1", "already_done")]
    assert "No merchant is waiting for finalisation." in (await signed_in.get("/helpdesk/")).text


async def test_resend_publishes_the_completion_again_under_a_new_id(console, handlers, uow, signed_in):
    await completed(handlers)

    resent = await signed_in.post("/helpdesk/merchants/m-1/resend",
                                  data={"csrf": csrf(await signed_in.get("/helpdesk/")), "back": "/helpdesk/"})

    assert resent.headers["location"] == "/helpdesk/?notice=resent"
    first, second = uow.committed.published(SetupCompleted)
    assert second.id != first.id and second.causation_id == first.id
    assert console.staff.audit_rows[-1].action == "resend" and console.staff.audit_rows[-1].actor == ALICE_EMAIL


async def test_a_post_without_the_csrf_token_or_with_a_foreign_back_link_is_contained(handlers, uow, signed_in):
    await completed(handlers)

    forged = await signed_in.post("/helpdesk/merchants/m-1/finalise", data={"csrf": "0" * 64})
    missing = await signed_in.post("/helpdesk/merchants/m-1/resend")
    elsewhere = await signed_in.post("/helpdesk/merchants/m-1/resend",
                                     data={"csrf": csrf(await signed_in.get("/helpdesk/")),
                                           "back": "//evil.example/helpdesk/"})

    assert forged.headers["location"] == missing.headers["location"] == "/helpdesk/?notice=bad_form"
    assert elsewhere.headers["location"] == "/helpdesk/?notice=resent"
    assert len(uow.committed.published(SetupFinalised)) == 0


async def test_the_unfinished_queue_lists_merchants_days_after_their_first_connection_and_reminds_once_a_day(
        console, handlers, uow, signed_in):
    for event in Journey("m-1").connected():
        await handlers.handle(event)
    assert "Started, not finished (0)" in (await signed_in.get("/helpdesk/unfinished")).text

    await console.later(signed_in, timedelta(days=3))
    page = await signed_in.get("/helpdesk/unfinished")
    assert "Started, not finished (1)" in page.text
    assert re.search(r"Steve&#39;s Cycles.*?3 of 3.*?3 d 0 h ago.*?none.*?Send reminder", page.text, re.S), page.text

    sent = await signed_in.post("/helpdesk/merchants/m-1/remind", data={"csrf": csrf(page), "back": "/helpdesk/unfinished"})
    twice = await signed_in.post("/helpdesk/merchants/m-1/remind", data={"csrf": csrf(page), "back": "/helpdesk/unfinished"})

    assert sent.headers["location"] == "/helpdesk/unfinished?notice=reminded"
    assert twice.headers["location"] == "/helpdesk/unfinished?notice=reminded_recently"
    (event,) = uow.committed.published(SetupReminderRequested)
    assert event.data.requested_by == ALICE_EMAIL and len(event.data.links) == 3
    assert uow.committed.merchants["m-1"].reminders_sent == 1
    assert "1, last 0 min ago" in (await signed_in.get("/helpdesk/unfinished")).text
    await console.later(signed_in, timedelta(days=1))
    page = await signed_in.get("/helpdesk/unfinished")
    assert (await signed_in.post("/helpdesk/merchants/m-1/remind", data={"csrf": csrf(page)})).headers[
        "location"] == "/helpdesk/?notice=reminded"


def _line(n: int, status: str, merchant: str = "m-1", kind: str = "integration.ready_to_finalise") -> NoticeLine:
    at = datetime(2026, 3, 1, 9, n, tzinfo=UTC)
    return NoticeLine(UUID(int=n), merchant, kind, "webhook", status, 5, at, None, at if status == "parked" else None,
                      "410 Gone" if status == "parked" else None)


async def test_parked_notifications_oldest_first_and_only_a_lead_re_drives(console, handlers, signed_in):
    await handlers.handle(Journey("m-1").connected()[0])                 # m-1 known by name, m-2 not
    console.notifier.lines = [_line(2, "parked", "m-2"), _line(1, "parked"), _line(3, "delivered")]

    page = await signed_in.get("/helpdesk/parked")
    refused = await signed_in.post(f"/helpdesk/notifications/{UUID(int=1)}/redrive",
                                   data={"csrf": csrf(page), "back": "/helpdesk/parked"})

    assert "Parked notifications (2)" in page.text and "Re-drive" not in page.text
    assert ">Steve&#39;s Cycles</a>" in page.text and ">m-2</a>" in page.text and "event(s) reached" not in page.text
    assert page.text.index(str(UUID(int=1))) < page.text.index(str(UUID(int=2)))
    assert refused.headers["location"] == "/helpdesk/parked?notice=forbidden" and console.notifier.redriven == []
    async with console.browser() as lead:
        await console.sign_in(lead, LENA)
        page = await lead.get("/helpdesk/parked")
        assert page.text.count('aria-label="Re-drive: ') == 2
        done = await lead.post(f"/helpdesk/notifications/{UUID(int=1)}/redrive", data={"csrf": csrf(page),
                                                                                     "back": "/helpdesk/parked"})
        again = await lead.post(f"/helpdesk/notifications/{UUID(int=1)}/redrive", data={"csrf": csrf(page)})
    assert done.headers["location"] == "/helpdesk/parked?notice=redriven"
    assert again.headers["location"] == "/helpdesk/?notice=not_parked"
    assert console.notifier.redriven == [UUID(int=1)]
    assert [(a.actor, a.outcome) for a in console.staff.audit_rows if a.action == "redrive"] == [
        (ALICE_EMAIL, "forbidden"), ("lena.lead@helpdesk.test", "done"), ("lena.lead@helpdesk.test", "not_parked")]


async def test_when_the_notifier_is_down_the_pages_say_what_is_missing(console, handlers, signed_in):
    await broken_after_completion(handlers)
    console.notifier.down = True

    parked = await signed_in.get("/helpdesk/parked")
    attention = await signed_in.get("/helpdesk/attention")
    merchant = await signed_in.get("/helpdesk/merchants/m-1")

    assert parked.status_code == attention.status_code == merchant.status_code == 200
    assert "notifier is not answering" in parked.text and "notifier is not answering" in attention.text
    assert "Reconnect needed" in attention.text and "notifications sent for Steve&#39;s Cycles cannot be shown" in \
        merchant.text


# -- queues, search, merchant page ------------------------------------------------------------------------------
async def broken_after_completion(handlers: RegistryHandlers) -> Journey:
    j = Journey()
    kv, sc1, _, os2, sc3, os3 = j.connected()
    for event in [kv, sc1, j.org_selected("s-1", ORG_A, "g-1", authorised_by=STEVE), os2, sc3, os3]:
        await handlers.handle(event)
    await handlers.complete("m-1", "u-1", None)
    await handlers.handle(j.broken("s-1", ORG_A, INCIDENT, since=datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
    return j


async def test_needs_attention_lists_broken_stores_with_reason_age_and_the_reminders_sent(console, handlers,
                                                                                            signed_in):
    j = await broken_after_completion(handlers)
    await handlers.finalise("m-1", "hd-ann")
    await console.later(signed_in, at=datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    console.notifier.summaries_by_merchant["m-1"] = NoticeSummary("m-1", 3, 2, 0, datetime(2026, 3, 4, 9, 0,
                                                                                          tzinfo=UTC), 0)

    page = await signed_in.get("/helpdesk/attention")

    assert "<h2>Connections needing attention (1 merchant)</h2>" in page.text
    assert re.search(r"Store 1 .*?s-1.*?Steve&#39;s Cycles Ltd.*?Reconnect needed — the app was removed inside "
                     r"Xero.*?2 d 2 h.*?2026-03-02 09:30 UTC.*?Steve Tester.*?3 sent, 2 reminders.*?last 3 h 0 min "
                     r"ago.*?Finalised", page.text, re.S), page.text
    await handlers.handle(j.restored("s-1", ORG_A, INCIDENT, datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
    assert "No connection needs attention." in (await signed_in.get("/helpdesk/attention")).text


async def test_search_finds_merchants_by_name_store_organisation_and_ids(handlers, signed_in):
    await completed(handlers, "m-1")
    await completed(handlers, "m-2")

    by_store = await signed_in.get("/helpdesk/search", params={"q": "store 2"})
    by_id = await signed_in.get("/helpdesk/search", params={"q": "m-2"})
    nothing = await signed_in.get("/helpdesk/search", params={"q": "no such shop"})
    empty = await signed_in.get("/helpdesk/search", params={"q": "  "})

    assert "Merchants matching “store 2” (2)" in by_store.text
    assert "Merchants matching “m-2” (1)" in by_id.text and 'href="/helpdesk/merchants/m-2"' in by_id.text
    assert "No merchant matches “no such shop”." in nothing.text
    assert "Type a merchant, store or Xero organisation name" in empty.text


async def test_a_merchant_page_shows_stores_organisations_timeline_notifications_and_console_activity(
        console, handlers, signed_in):
    await broken_after_completion(handlers)
    console.notifier.lines = [_line(1, "delivered"), _line(2, "parked", kind="merchant.connection_broken")]
    await signed_in.post("/helpdesk/merchants/m-1/resend", data={"csrf": csrf(await signed_in.get("/helpdesk/"))})

    page = await signed_in.get("/helpdesk/merchants/m-1")
    unknown = await signed_in.get("/helpdesk/merchants/m-404")

    assert "Setup completed: 3 store(s) connected to 2 organisation(s)" in page.text
    assert "Steve Tester" in page.text and "steve@xero-demo.test" in page.text
    assert "merchant.connection_broken" in page.text and "410 Gone" in page.text
    assert re.search(r"Console activity.*?alice.agent@helpdesk.test.*?resend.*?done", page.text, re.S)
    assert unknown.status_code == 404


async def test_every_table_is_labelled_and_headed(console, handlers, signed_in):
    await broken_after_completion(handlers)
    for event in Journey("m-2").connected():
        await handlers.handle(event)
    await console.later(signed_in, timedelta(days=4))
    console.notifier.lines = [_line(1, "parked")]

    for path in ("/helpdesk/", "/helpdesk/merchants/m-1", "/helpdesk/attention", "/helpdesk/unfinished",
                 "/helpdesk/parked", "/helpdesk/search?q=steve"):
        page = (await signed_in.get(path)).text
        tables = page.count("<table>")
        assert tables and page.count("<caption>") == tables and page.count("<thead>") == tables, path
        assert "<h1>" in page and "<h2>" in page and "<main>" in page, path


async def test_thousands_awaiting_are_listed_a_page_at_a_time_longest_waiting_first(handlers, signed_in):
    for n in range(1, 121):
        await completed(handlers, f"m-{n:03}")

    first, last = await signed_in.get("/helpdesk/"), await signed_in.get("/helpdesk/?page=3")

    assert "Merchants awaiting finalisation (120)" in first.text and "Showing 1–50 of 120" in first.text
    assert first.text.count('aria-label="Mark finalised: ') == 50 and 'href="/helpdesk/?page=2">Next 50' in first.text
    assert "m-001" in first.text and "m-051" not in first.text and "Previous" not in first.text
    assert last.text.count('aria-label="Mark finalised: ') == 20 and "Showing 101–120 of 120" in last.text
    assert 'href="/helpdesk/?page=2">Previous 50' in last.text and "Next 50" not in last.text
    assert (await signed_in.get("/helpdesk/?page=0")).status_code == 400          # the registry maps 422 to 400
