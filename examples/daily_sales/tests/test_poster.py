"""The poster on fakes: one invoice per store and day, with the day's idempotency key, and what it does with each
answer: already posted, 429, validation errors, reconnect needed, outages, and a restart mid-call."""

import logging
from datetime import date, timedelta

import pytest

from daily_sales.domain import (ClaimedDay, Connection, DayPolicy, Link, ProxyAnswer, RetryPolicy, Status,
                                build_invoice)
from daily_sales.handlers import MerchantEvents
from daily_sales.poster import DailyPoster
from daily_sales.ports import PlatformUnavailable
from shared.contracts import CloudEvent, ConnectionsChanged, StoreLink

from .fakes import (OTHER_TENANT, START, TENANT, FakeClock, FakeEvents, FakeLedger, FakeSales, FakeXero, day_sales,
                    finalised_merchant, posted, problem, unfinalised, utc_date)

SUNDAY, MONDAY = date(2026, 3, 1), date(2026, 3, 2)
KEY = "daily-sales:s-1:2026-03-01"
VALIDATION = ProxyAnswer(400, body={
    "ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
    "Elements": [{"ValidationErrors": [{"Message": "Account code '200' is not a valid code for this document."}]}]})


class Stack:
    """The poster wired to fakes sharing one state, with one finalised merchant (store s-1) by default."""

    def __init__(self, *links: Link, days: DayPolicy = DayPolicy(), finalised: bool = True) -> None:
        merchant = finalised_merchant("m-1", *links)
        self.ledger = FakeLedger({"m-1": merchant if finalised else unfinalised(merchant)})
        self.clock, self.sales, self.xero = FakeClock(), FakeSales(), FakeXero()
        self.poster = DailyPoster(self.ledger, self.sales, self.xero, self.clock, local_date=utc_date, days=days,
                                  retry=RetryPolicy(base_seconds=30, reconnect_check_seconds=3600),
                                  lease_seconds=300, jitter=lambda: 1.0)

    def row(self, store_id: str = "s-1", day: date = SUNDAY):
        return self.ledger.rows[(store_id, day)]

    @property
    def keys(self) -> list[str]:
        return [sent.idempotency_key for sent in self.xero.sent]


@pytest.fixture
def stack() -> Stack:
    return Stack()


async def test_a_finalised_store_posts_yesterday_at_once_with_the_days_key(stack):
    assert await stack.poster.run_once() == 1
    assert stack.keys == [KEY]
    sent = stack.xero.sent[0]
    assert (sent.store_id, sent.invoice.day, sent.invoice.store_name) == ("s-1", SUNDAY, "Steve Test Store")
    row = stack.row()
    assert (row.status, row.invoice_id, row.invoice_number, row.attempts) == (Status.POSTED, "inv-1", "INV-0001", 1)
    assert stack.sales.calls == [("s-1", SUNDAY)] and stack.xero.connection_calls == ["s-1"]


async def test_a_day_already_posted_is_never_sent_again(stack):
    await stack.poster.run_once()
    assert await stack.poster.run_once() == 0
    stack.clock.advance(hours=6)
    assert await stack.poster.run_once() == 0
    assert stack.keys == [KEY] and len(stack.sales.calls) == 1


async def test_each_new_day_posts_once_and_missed_days_are_caught_up_oldest_first(stack):
    await stack.poster.run_once()
    stack.clock.advance(days=3)
    assert await stack.poster.run_once() == 3
    assert stack.keys == [KEY] + [f"daily-sales:s-1:2026-03-0{d}" for d in (2, 3, 4)]


async def test_a_merchant_not_finalised_posts_nothing():
    stack = Stack(finalised=False)
    assert await stack.poster.run_once() == 0
    assert stack.ledger.rows == {} and stack.xero.sent == []


async def test_a_pinned_day_posts_that_day():
    stack = Stack(days=DayPolicy(pinned=date(2026, 2, 14)))
    await stack.poster.run_once()
    assert stack.keys == ["daily-sales:s-1:2026-02-14"]


async def test_no_sales_posts_nothing_and_is_recorded(stack):
    stack.sales.days[("s-1", SUNDAY)] = day_sales(count=0, net20="0.00", tax20="0.00")
    await stack.poster.run_once()
    assert stack.xero.sent == [] and stack.xero.connection_calls == []
    assert (stack.row().status, stack.row().problem) == (Status.NO_SALES, "no sales that day: nothing posted")
    stack.clock.advance(hours=2)
    await stack.poster.run_once()
    assert stack.sales.calls == [("s-1", SUNDAY)]


async def test_a_429_waits_for_retry_after_then_resends_with_the_same_key(stack):
    stack.xero.answers = [problem(429, "rate_limited", retry_after=120), posted()]
    await stack.poster.run_once()
    row = stack.row()
    assert (row.status, row.next_attempt_at) == (Status.PENDING, START + timedelta(seconds=120))
    assert stack.ledger.deferred == [(TENANT, START + timedelta(seconds=120))]
    stack.clock.advance(seconds=119)
    assert await stack.poster.run_once() == 0  # never sooner than Retry-After
    stack.clock.advance(seconds=1)
    assert await stack.poster.run_once() == 1
    assert stack.keys == [KEY, KEY] and stack.row().status is Status.POSTED


async def test_a_429_pauses_the_other_stores_of_that_organisation_but_not_others():
    stack = Stack(Link("s-1", "One", TENANT, "Org 1"), Link("s-2", "Two", TENANT, "Org 1"),
                  Link("s-3", "Three", OTHER_TENANT, "Org 2"))
    stack.xero.answers = [ProxyAnswer(429, retry_after=60), posted(3)]
    assert await stack.poster.run_once() == 2
    assert [s.store_id for s in stack.xero.sent] == ["s-1", "s-3"]  # s-2 was deferred, not even claimed
    assert stack.row("s-2").status is Status.PENDING
    assert stack.row("s-2").next_attempt_at == START + timedelta(seconds=60)
    assert stack.row("s-3").status is Status.POSTED


async def test_after_a_429_the_organisations_other_due_days_wait_without_a_call():
    stack = Stack(Link("s-1", "One", TENANT, "Org 1"), Link("s-2", "Two", TENANT, "Org 1"))
    await stack.poster.plan(stack.clock())
    stack.row("s-2").status = Status.RECONNECT_NEEDED  # due now too, but not moved by the ledger's deferral
    stack.xero.answers = [ProxyAnswer(429, retry_after=90), posted()]
    assert await stack.poster.run_once() == 2
    assert [s.store_id for s in stack.xero.sent] == ["s-1"] and stack.sales.calls == [("s-1", SUNDAY)]
    assert (stack.row("s-2").status, stack.row("s-2").next_attempt_at) == (Status.PENDING,
                                                                           START + timedelta(seconds=90))


async def test_a_validation_error_marks_the_day_failed_and_it_is_not_retried(stack):
    stack.xero.answers = [VALIDATION]
    await stack.poster.run_once()
    row = stack.row()
    assert row.status is Status.FAILED and row.next_attempt_at is None
    assert row.problem == "Xero refused the invoice: Account code '200' is not a valid code for this document."
    stack.clock.advance(days=1)
    await stack.poster.run_once()
    assert stack.keys == [KEY, "daily-sales:s-1:2026-03-02"]  # the next day, not the failed one again


@pytest.mark.parametrize("connection", [None, Connection("s-1", TENANT, "Org", "broken")])
async def test_a_store_without_a_working_connection_is_skipped_without_calling_xero(stack, connection):
    stack.xero.connections["s-1"] = connection
    await stack.poster.run_once()
    assert stack.xero.sent == []
    assert stack.row().status is Status.RECONNECT_NEEDED
    assert stack.row().next_attempt_at == START + timedelta(hours=1)


@pytest.mark.parametrize("code", ["reconnect_needed", "connection_broken", "store_not_connected", "missing_scope"])
async def test_a_reconnect_problem_from_the_proxy_is_recorded(stack, code):
    stack.xero.answers = [problem(409, code, missing_scopes=["accounting.invoices"])]
    await stack.poster.run_once()
    assert stack.row().status is Status.RECONNECT_NEEDED and stack.row().problem.startswith(code)


async def test_a_connection_asked_to_reconnect_still_posts_what_it_was_granted(stack, caplog):
    stack.xero.connections["s-1"] = Connection("s-1", TENANT, "Org", "reconnect_needed", ("accounting.payments",))
    with caplog.at_level(logging.WARNING, logger="daily_sales.poster"):
        await stack.poster.run_once()
    assert stack.row().status is Status.POSTED and "accounting.payments" in caplog.text


async def test_a_scope_xero_refuses_waits_for_the_reconnection(stack):
    stack.xero.connections["s-1"] = Connection("s-1", TENANT, "Org", "reconnect_needed", ("accounting.invoices",))
    stack.xero.answers = [problem(403, "missing_scope", missing_scopes=["accounting.invoices"])]
    await stack.poster.run_once()
    assert stack.row().status is Status.RECONNECT_NEEDED
    assert stack.row().problem.endswith("(missing scopes: accounting.invoices)")


async def test_connections_changed_retries_a_day_waiting_for_a_reconnection_at_once(stack):
    stack.xero.connections["s-1"] = Connection("s-1", TENANT, "Org", "broken")
    await stack.poster.run_once()
    stack.xero.connections.clear()  # the merchant reconnected
    stack.clock.advance(minutes=1)
    assert await stack.poster.run_once() == 0  # the hourly look is not due yet
    link = StoreLink(store_id="s-1", store_name="Steve Test Store", tenant_id=TENANT, organisation_name="Org")
    event = CloudEvent(data=ConnectionsChanged(merchant_id="m-1", merchant_name="Steve's Cycles", summary="ok",
                                               reason="store_connected", links=(link,)),
                       source="/registry", time=START + timedelta(minutes=1))
    await MerchantEvents(FakeEvents(stack.ledger), stack.clock, on_change=stack.poster.wake).connections_changed(event)
    assert await stack.poster.run_once() == 1
    assert stack.keys == [KEY] and stack.row().status is Status.POSTED


async def test_a_day_waiting_for_a_reconnection_looks_again_hourly(stack):
    stack.xero.connections["s-1"] = None
    await stack.poster.run_once()
    del stack.xero.connections["s-1"]
    stack.clock.advance(hours=1)
    assert await stack.poster.run_once() == 1
    assert stack.row().status is Status.POSTED


@pytest.mark.parametrize("failure", ["xero_5xx", "proxy_503", "transport", "status_call", "cloudpos"])
async def test_outages_are_retried_later_with_backoff(stack, failure):
    if failure == "xero_5xx":
        stack.xero.answers = [ProxyAnswer(500, text="An error occurred in Xero"), posted()]
    elif failure == "proxy_503":
        stack.xero.answers = [problem(503, "xero_unavailable"), posted()]
    elif failure == "transport":
        stack.xero.answers = [PlatformUnavailable("PUT: ReadTimeout"), posted()]
    elif failure == "status_call":
        stack.xero.connection_down = True
    else:
        stack.sales.down = True
    await stack.poster.run_once()
    assert (stack.row().status, stack.row().next_attempt_at) == (Status.PENDING, START + timedelta(seconds=30))
    stack.xero.connection_down = stack.sales.down = False
    stack.xero.forget_keys()  # else Xero replays its stored 500 for the key's few minutes (the backoff outlasts it)
    stack.clock.advance(seconds=30)
    await stack.poster.run_once()
    assert stack.row().status is Status.POSTED and set(stack.keys) == {KEY}


async def test_backoff_doubles_while_the_outage_lasts(stack):
    stack.xero.answers = [problem(502, "xero_unavailable")]
    waits = []
    for _ in range(4):
        await stack.poster.run_once()
        waits.append((stack.row().next_attempt_at - stack.clock.now).total_seconds())
        stack.clock.now = stack.row().next_attempt_at
    assert waits == [30, 60, 120, 240]


async def hold_and_die(stack: Stack) -> ClaimedDay:
    """A poster holds the day (status `posting`, lease 300 s) and its process dies before recording anything."""
    await stack.poster.plan(stack.clock())
    [held] = await stack.ledger.claim_due(stack.clock(), 1, stack.clock() + timedelta(seconds=300))
    assert stack.row().status is Status.POSTING
    return held


async def test_a_restart_mid_run_resends_with_the_same_idempotency_key(stack):
    await hold_and_die(stack)  # died before its PUT reached Xero
    stack.clock.advance(seconds=299)
    assert await stack.poster.run_once() == 0  # still held by the dead attempt's lease
    stack.clock.advance(seconds=1)
    assert await stack.poster.run_once() == 1
    assert stack.xero.searches == ["s-1 2026-03-01"]  # looked first: nothing there
    assert stack.keys == [KEY]
    assert (stack.row().status, stack.row().invoice_id, stack.row().attempts) == (Status.POSTED, "inv-1", 2)


async def test_a_restart_after_xero_made_the_invoice_keeps_one_invoice_within_the_keys_life(stack):
    held = await hold_and_die(stack)
    invoice = build_invoice(day_sales(), "Steve Test Store")
    first = await stack.xero.create_invoice("s-1", invoice, held.idempotency_key)  # got through, then: crash
    stack.xero.search_answer = ProxyAnswer(200, body={"Invoices": []})  # say the search saw nothing (yet)
    stack.clock.advance(seconds=300)
    await stack.poster.run_once()
    assert stack.keys == [KEY, KEY]  # re-sent with the same key: Xero answered with the first invoice
    assert stack.row().invoice_id == first.body["Invoices"][0]["InvoiceID"]
    assert len(stack.xero.invoices) == 1


async def test_a_restart_after_xero_forgot_the_key_finds_the_invoice_by_reference_and_sends_nothing(stack):
    held = await hold_and_die(stack)
    await stack.xero.create_invoice("s-1", build_invoice(day_sales(), "Steve Test Store"), held.idempotency_key)
    stack.xero.forget_keys()  # Xero keeps a key for minutes only
    stack.xero.answers = [posted(2)]  # a second PUT would make a second invoice
    stack.clock.advance(hours=2)
    await stack.poster.run_once()
    assert stack.keys == [KEY]  # the dead attempt's PUT only
    assert (stack.row().status, stack.row().invoice_id, stack.row().invoice_number) == (Status.POSTED, "inv-1",
                                                                                        "INV-0001")
    assert len(stack.xero.invoices) == 1


async def test_only_retries_search_and_a_failed_search_stops_or_falls_through_as_judged(stack):
    await stack.poster.run_once()
    assert stack.xero.searches == []  # a first attempt has nothing to find
    stack.clock.advance(days=1)
    stack.xero.answers = [ProxyAnswer(503)]
    await stack.poster.run_once()
    stack.clock.advance(minutes=5)
    stack.xero.search_answer = problem(429, "rate_limited", retry_after=30)
    await stack.poster.run_once()
    assert len(stack.xero.sent) == 2 and stack.row(day=MONDAY).status is Status.PENDING  # no PUT after a 429
    stack.clock.advance(minutes=5)
    stack.xero.forget_keys()
    stack.xero.search_answer = ProxyAnswer(400, body={"Type": "QueryParseException", "Message": "no"})
    stack.xero.answers = [posted(5)]
    await stack.poster.run_once()
    assert stack.row(day=MONDAY).status is Status.POSTED  # a search Xero refuses does not withhold the invoice


async def test_the_resent_attempt_is_logged_as_such(stack, caplog):
    await hold_and_die(stack)
    stack.clock.advance(seconds=300)
    with caplog.at_level(logging.INFO, logger="daily_sales.poster"):
        await stack.poster.run_once()
    assert "re-sent after an interrupted attempt" in caplog.text


async def test_our_token_refused_is_retried_and_logged_as_an_error(stack, caplog):
    stack.xero.answers = [problem(401, "unauthorized")]
    with caplog.at_level(logging.ERROR, logger="daily_sales.poster"):
        await stack.poster.run_once()
    assert stack.row().status is Status.PENDING
    assert "DAILY_SALES_PLATFORM_API__TOKEN" in caplog.text


async def test_an_attempt_taken_over_meanwhile_is_not_overwritten(stack):
    class SlowSales(FakeSales):
        async def day_of_sales(self, store_id, day):
            row = stack.row()
            row.attempts += 1  # another poster took the day over after our lease ended
            return await super().day_of_sales(store_id, day)

    stack.poster._sales = SlowSales()
    await stack.poster.run_once()
    assert stack.row().status is Status.POSTING and stack.row().invoice_id is None


async def test_a_batch_stops_at_its_size_and_the_next_run_continues():
    stack = Stack(*(Link(f"s-{i}", f"Store {i}", TENANT, "Org") for i in range(1, 6)))
    stack.poster._batch_size = 2
    assert [await stack.poster.run_once() for _ in range(4)] == [2, 2, 1, 0]
    assert len(stack.xero.sent) == 5 and {r.status for r in stack.ledger.rows.values()} == {Status.POSTED}
