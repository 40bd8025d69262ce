""""I have finished" survives the registry being away (or behind on our events): the request is kept, the
merchant is told it is recorded, and `CompletionDelivery` offers it to the registry with backoff until it
answers. Handler tests with the fakes; the last test runs the real adapter, HTTP client and background step."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from uuid import uuid4

import pytest

from oauth_gateway.domain.model import Connection, WebSession
from oauth_gateway.domain.platform import StoreLink
from oauth_gateway.domain.refusals import Code, Refusal
from oauth_gateway.merchant.completions import CompletionDelivery
from oauth_gateway.merchant.summary import Finished, Summaries
from oauth_gateway.ports import ServiceRefusal

from .fakes import FakeClock, FakeRegistry, FakeUnitOfWork

TENANT = uuid4()
NOTHING_CONNECTED = ServiceRefusal(409, "nothing_connected", "No store is connected to Xero yet.")


@dataclass
class Setup:
    uow: FakeUnitOfWork
    clock: FakeClock
    registry: FakeRegistry
    summaries: Summaries
    delivery: CompletionDelivery
    session: WebSession

    @property
    def kept(self) -> dict:
        return self.uow.committed.completions

    def audit(self, action: str) -> list[dict]:
        return [detail for a, _, _, detail in self.uow.committed.audit if a == action]


@pytest.fixture
async def setup() -> Setup:
    """Merchant m-1 with store s-1 connected (as this gateway sees it) and a registry that answers."""
    uow, clock, registry = FakeUnitOfWork(), FakeClock(), FakeRegistry()
    async with uow() as tx:
        await tx.connections.save(Connection("m-1", TENANT, "Org", uuid4(), "g-1", "STANDARD"), clock())
        await tx.store_links.link(StoreLink("s-1", "m-1", TENANT, "u-1", clock(), "One"))
    session = WebSession(hashlib.sha256(b"sid").digest(), "u-1", "m-1", "M", "D", clock(), clock())
    return Setup(uow, clock, registry, Summaries(uow, clock, registry, settle_timeout=0),
                 CompletionDelivery(uow, clock, registry), session)


async def test_with_the_registry_away_the_request_is_kept_and_delivered_once_it_is_back(setup: Setup) -> None:
    setup.registry.unavailable = True

    outcome = await setup.summaries.finish(setup.session)
    await setup.delivery.run_once()                       # still away: kept

    assert outcome == Finished(first_time=True, recorded=True)
    assert setup.kept["m-1"]["outcome"] is None and setup.kept["m-1"]["by"] == "u-1"
    assert setup.audit("setup.completion_recorded") == [{"reason": "registry_unavailable"}]
    setup.registry.unavailable = False
    setup.clock.advance(seconds=5)
    assert await setup.delivery.run_once() == 1
    assert await setup.delivery.run_once() == 0           # nothing left: the helpdesk is told once
    assert setup.registry.completed == ["m-1"]
    assert setup.kept["m-1"]["outcome"] == "delivered:202"
    assert [d["status"] for d in setup.audit("setup.completed")] == [202]


async def test_a_second_click_while_kept_keeps_one_request(setup: Setup) -> None:
    setup.registry.unavailable = True
    await setup.summaries.finish(setup.session)
    again = await setup.summaries.finish(setup.session)
    setup.registry.unavailable = False
    setup.clock.advance(seconds=5)
    await setup.delivery.run_once()

    assert again == Finished(first_time=True, recorded=True)
    assert len(setup.audit("setup.completion_recorded")) == 1
    assert setup.registry.completed == ["m-1"]


async def test_nothing_is_kept_when_no_store_is_connected_here(setup: Setup) -> None:
    async with setup.uow() as tx:
        await tx.store_links.unlink_organisation("m-1", TENANT)
    setup.registry.unavailable = True

    outcome = await setup.summaries.finish(setup.session)

    assert isinstance(outcome, Refusal) and outcome.code is Code.NOTHING_CONNECTED
    assert setup.kept == {}


async def test_the_registry_is_offered_it_again_with_backoff_and_asked_once_per_round(setup: Setup) -> None:
    setup.registry.unavailable = True
    await setup.summaries.finish(setup.session)
    async with setup.uow() as tx:   # two more merchants' requests, kept the same way
        for merchant in ("m-2", "m-3"):
            await tx.completions.keep(merchant, f"u-{merchant}", setup.clock())
    start, calls = setup.clock(), []
    for at in (0, 4, 5, 14, 15, 34, 35):                 # offered at 0 s, then 5, 10 and 20 s after each try
        setup.clock.now = start + timedelta(seconds=at)
        before = setup.registry.calls
        await setup.delivery.run_once()
        calls.append(setup.registry.calls - before)

    assert calls == [1, 0, 1, 0, 1, 0, 1]                # one call per round although three are waiting
    assert all(row["outcome"] is None and row["attempts"] == 4 for row in setup.kept.values())


async def test_a_registry_behind_on_our_events_gets_it_once_it_has_caught_up(setup: Setup) -> None:
    """Kafka away: the registry has not seen the store connected and says nothing is; we see it connected."""
    setup.registry.refusal = NOTHING_CONNECTED

    outcome = await setup.summaries.finish(setup.session)
    setup.clock.advance(seconds=5)
    await setup.delivery.run_once()                       # still behind: kept

    assert outcome == Finished(first_time=True, recorded=True)
    assert setup.kept["m-1"]["outcome"] is None and "nothing_connected" in setup.kept["m-1"]["error"]
    setup.registry.refusal = None
    setup.clock.advance(seconds=10)
    await setup.delivery.run_once()
    assert setup.kept["m-1"]["outcome"] == "delivered:202" and setup.registry.completed == ["m-1"]


async def test_a_refusal_that_stands_ends_the_request_and_is_audited(setup: Setup) -> None:
    setup.registry.unavailable = True
    await setup.summaries.finish(setup.session)
    async with setup.uow() as tx:                         # meanwhile the merchant disconnected the organisation
        await tx.store_links.unlink_organisation("m-1", TENANT)
    setup.registry.unavailable, setup.registry.refusal = False, NOTHING_CONNECTED
    setup.clock.advance(seconds=5)

    await setup.delivery.run_once()

    assert setup.kept["m-1"]["outcome"] == "refused:nothing_connected"
    assert [d["code"] for d in setup.audit("setup.completion_refused")] == ["nothing_connected"]
    setup.clock.advance(hours=1)
    await setup.delivery.run_once()
    assert setup.registry.calls == 2                      # the click and one offer: ended, never asked again


async def test_a_registry_still_behind_after_a_day_is_taken_at_its_word(setup: Setup) -> None:
    setup.registry.refusal = NOTHING_CONNECTED
    await setup.summaries.finish(setup.session)
    for _ in range(6 * 23):                               # every 10 minutes for 23 hours: still "not yet"
        setup.clock.advance(minutes=10)
        await setup.delivery.run_once()
    assert setup.kept["m-1"]["outcome"] is None
    for _ in range(6 * 2):
        setup.clock.advance(minutes=10)
        await setup.delivery.run_once()

    assert setup.kept["m-1"]["outcome"] == "refused:nothing_connected"
    assert len(setup.audit("setup.completion_refused")) == 1


async def test_the_merchants_own_click_reaching_the_registry_ends_the_kept_request(setup: Setup) -> None:
    setup.registry.unavailable = True
    await setup.summaries.finish(setup.session)
    setup.registry.unavailable = False

    outcome = await setup.summaries.finish(setup.session)
    setup.clock.advance(minutes=1)
    await setup.delivery.run_once()

    assert outcome == Finished(first_time=True)
    assert setup.kept["m-1"]["outcome"] == "delivered:202"
    assert setup.registry.completed == ["m-1"]


async def test_an_instance_that_dies_mid_offer_leaves_it_to_another_after_the_lease(setup: Setup) -> None:
    setup.registry.unavailable = True
    await setup.summaries.finish(setup.session)
    setup.registry.unavailable = False
    async with setup.uow() as tx:                         # taken by an instance that then died
        assert len(await tx.completions.claim_due(setup.clock(), setup.clock() + timedelta(seconds=60), 10)) == 1

    assert await setup.delivery.run_once() == 0           # leased: not offered twice at once
    setup.clock.advance(seconds=61)
    assert await setup.delivery.run_once() == 1
    assert setup.registry.completed == ["m-1"]


@pytest.mark.kafka
@pytest.mark.postgres
async def test_over_http_a_registry_that_is_away_hears_of_it_once_it_is_back(stack) -> None:  # noqa: ANN001
    """The gateway over real HTTP and PostgreSQL, the registry answering 503 at the click, then back."""
    from local_infra.merchant import connect, ready
    from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID

    browser = await ready(stack)
    store = next(iter(stack.merchant.stores))
    await connect(stack, browser, store, STEVE_TEST_STORE_TENANT_ID)
    stack.registry.down = True

    page = await browser.submit("I have finished connecting stores")
    await stack.app.state.completions.run_once()          # still away: kept

    assert page.status_code == 200 and "recorded that you have finished" in browser.text()
    kept = await stack.pool.fetchrow("SELECT * FROM pending_completions")
    assert (kept["merchant_id"], kept["outcome"]) == (stack.merchant.merchant_id, None)
    stack.registry.down = False
    stack.clock.advance(60)
    await stack.app.state.completions.run_once()
    await stack.app.state.completions.run_once()
    assert stack.registry.completions == [(stack.merchant.merchant_id, f"u-{stack.merchant.merchant_id}")]
    assert await stack.pool.fetchval("SELECT outcome FROM pending_completions") == "delivered:202"
