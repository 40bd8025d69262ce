"""Erasing a merchant over fakes (docs/erasure.md): the use case, the API route, and the console's lead-only action
with its confirmation step. The PostgreSQL side (the timeline's trigger, every table):
tests/test_erasure_across_services.py."""

import httpx
import pytest

from connection_registry.erasure import Erasure
from connection_registry.handlers import Outcome, RegistryHandlers
from connection_registry.main import build_http
from shared.contracts import MerchantErased

from .console_fakes import ALICE, LENA, FakeIdentityProvider, FakeNotifications, FakeStaffStore
from .fakes import API_TOKEN, SETTINGS, FakeKeys, FakeReads, FakeUnitOfWork, StepClock
from .journey import Journey

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def erasure(uow: FakeUnitOfWork, keys: FakeKeys) -> Erasure:
    return Erasure(uow, keys, clock=StepClock())


async def two_merchants(handlers: RegistryHandlers) -> tuple[Journey, Journey]:
    steve, control = Journey("m-1"), Journey("m-2")
    for event in [*steve.connected(), *control.connected()]:
        await handlers.handle(event)
    await handlers.complete("m-1", "u-1", None)
    return steve, control


async def test_erasure_removes_the_merchant_keeps_counts_publishes_and_then_forgets_the_key(handlers, erasure, uow,
                                                                                           keys):
    await two_merchants(handlers)
    before = uow.committed.graph("m-2")
    erased = await erasure.erase("m-1", "ops:olivia", "HD-1234")
    state = uow.committed
    assert not erased.already_erased and erased.record.known
    assert (erased.record.stores, erased.record.organisations, erased.record.grants) == (3, 2, 2)
    assert erased.record.timeline_rows > 0 and erased.record.events > 0
    assert state.graph("m-1").merchant is None and state.timeline_of("m-1") == [] and "m-1" in state.erasures
    assert [e.data.merchant_id for e in state.outbox if e.data.merchant_id == "m-1"] == ["m-1"]
    (event,) = state.published(MerchantErased)
    assert (event.data.requested_by, event.data.reference) == ("ops:olivia", "HD-1234")
    assert event.id == erased.record.event_id
    assert keys.forgotten == ["m-1"]
    assert state.graph("m-2") == before, "the control merchant is untouched"


async def test_a_repeat_publishes_nothing_and_forgets_again(handlers, erasure, uow, keys):
    await two_merchants(handlers)
    first = await erasure.erase("m-1", "ops:olivia", "HD-1234")
    again = await erasure.erase("m-1", "ops:someone-else", "HD-9")
    assert again.already_erased and again.record == first.record
    assert len(uow.committed.published(MerchantErased)) == 1 and keys.forgotten == ["m-1", "m-1"]


async def test_a_failed_forget_leaves_the_erasure_committed_and_a_retry_forgets(handlers, erasure, uow, keys):
    await two_merchants(handlers)
    keys.fail = True
    with pytest.raises(ConnectionError):
        await erasure.erase("m-1", "ops:olivia", "HD-1234")
    assert "m-1" in uow.committed.erasures
    keys.fail = False
    assert (await erasure.erase("m-1", "ops:olivia", "HD-1234")).already_erased and keys.forgotten == ["m-1"]


async def test_late_or_replayed_events_never_bring_an_erased_merchant_back(handlers, erasure, uow):
    steve, _ = await two_merchants(handlers)
    await erasure.erase("m-1", "ops:olivia", "HD-1234")
    old = Journey("m-1").connected()        # the same events again, under new ids: a replay, or late arrivals
    outcomes = [await handlers.handle(e) for e in [*old, steve.key_validated()]]
    assert outcomes == [Outcome.ERASED] * len(outcomes)
    assert uow.committed.graph("m-1").merchant is None and uow.committed.timeline_of("m-1") == []
    assert (await handlers.complete("m-1", "u-1", None)).code == "unknown_merchant"


async def test_an_unknown_merchant_is_erased_with_zero_counts(erasure, uow, keys):
    """Other services may hold it (a refused key's attempts, a sign-in): the registry records it all the same."""
    erased = await erasure.erase("m-never-seen", "ops:olivia", "HD-1")
    assert not erased.record.known and erased.record.stores == erased.record.timeline_rows == 0
    assert len(uow.committed.published(MerchantErased)) == 1 and keys.forgotten == ["m-never-seen"]


# -- the API route --------------------------------------------------------------------------------------------
@pytest.fixture
async def api(handlers, uow, erasure):
    app = build_http(handlers, FakeReads(uow), SETTINGS, provider=FakeIdentityProvider(), staff=FakeStaffStore(),
                     notifications=FakeNotifications(), clock=StepClock(), erasure=erasure)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
        yield client


async def test_the_route_requires_the_token_and_is_idempotent(api, handlers):
    await two_merchants(handlers)
    body = {"requested_by": "ops:olivia", "reference": "HD-1234"}
    assert (await api.post("/v1/merchants/m-1/erasure", json=body)).status_code == 401
    assert (await api.post("/v1/merchants/m-1/erasure", json=body,
                           headers={"Authorization": "Bearer wrong-token-wrong-token"})).status_code == 401
    first = await api.post("/v1/merchants/m-1/erasure", json=body, headers=AUTH)
    assert first.status_code == 201, first.text
    assert first.json()["stores"] == 3 and first.json()["already_erased"] is False
    again = await api.post("/v1/merchants/m-1/erasure", json=body, headers=AUTH)
    assert again.status_code == 200 and again.json()["event_id"] == first.json()["event_id"]
    bad = await api.post("/v1/merchants/m-2/erasure", json={**body, "reference": "<script>"}, headers=AUTH)
    assert bad.status_code == 400


# -- the console: leads only, after typing the merchant id ----------------------------------------------------
@pytest.fixture
def desk(handlers, uow, erasure):
    idp, staff = FakeIdentityProvider(), FakeStaffStore()
    app = build_http(handlers, FakeReads(uow), SETTINGS, provider=idp, staff=staff,
                     notifications=FakeNotifications(), clock=StepClock(), erasure=erasure)
    return app, idp, staff


async def signed_in_as(desk, user: dict) -> tuple[httpx.AsyncClient, str]:  # noqa: ANN001
    app, idp, _ = desk
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry")
    idp.next_user = user
    start = await browser.get("/helpdesk/sign-in")
    await browser.get("/helpdesk/callback", params=idp.callback_query(start.headers["location"]))
    page = await browser.get("/helpdesk/merchants/m-1")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return browser, page.text


async def test_an_agent_sees_no_erase_action_and_a_forged_post_is_refused_and_audited(desk, handlers, uow, keys):
    await two_merchants(handlers)
    browser, page = await signed_in_as(desk, ALICE)
    assert "/helpdesk/erasures/" not in page
    assert (await browser.get("/helpdesk/erasures/m-1")).status_code == 403
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    forged = await browser.post("/helpdesk/erasures/m-1", data={"csrf": csrf, "confirm": "m-1", "reference": "HD-1"})
    assert forged.status_code == 303 and forged.headers["location"] == "/helpdesk/erasures/m-1?notice=forbidden"
    assert uow.committed.graph("m-1").merchant is not None and keys.forgotten == []
    last = desk[2].audit_rows[-1]
    assert (last.action, last.outcome, last.merchant_id) == ("erase", "forbidden", "m-1")


async def test_a_lead_erases_only_after_typing_the_merchant_id(desk, handlers, uow, keys):
    await two_merchants(handlers)
    browser, page = await signed_in_as(desk, LENA)
    assert 'href="/helpdesk/erasures/m-1"' in page
    confirm = await browser.get("/helpdesk/erasures/m-1")
    assert confirm.status_code == 200 and 'name="confirm"' in confirm.text
    csrf = confirm.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    wrong = await browser.post("/helpdesk/erasures/m-1", data={"csrf": csrf, "confirm": "m-2", "reference": "HD-1"})
    assert wrong.headers["location"] == "/helpdesk/erasures/m-1?notice=not_confirmed"
    assert uow.committed.graph("m-1").merchant is not None
    no_csrf = await browser.post("/helpdesk/erasures/m-1", data={"confirm": "m-1", "reference": "HD-1"})
    assert no_csrf.headers["location"] == "/helpdesk/?notice=bad_form" and "m-1" not in uow.committed.erasures
    done = await browser.post("/helpdesk/erasures/m-1", data={"csrf": csrf, "confirm": "m-1", "reference": "HD-1"})
    assert done.headers["location"] == "/helpdesk/?notice=erased"
    assert uow.committed.graph("m-1").merchant is None and keys.forgotten == ["m-1"]
    (event,) = uow.committed.published(MerchantErased)
    assert event.data.requested_by == LENA["email"]
    assert [(a.action, a.outcome) for a in desk[2].audit_rows if a.action == "erase"] == [
        ("erase", "not_confirmed"), ("erase", "done")]
