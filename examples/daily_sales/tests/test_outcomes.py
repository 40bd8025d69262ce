"""Judging the platform API's problems and Xero's answers, and what the ledger does next."""

from datetime import timedelta
from uuid import UUID

import pytest

from daily_sales.domain import (Connection, NothingSold, Posted, ProxyAnswer, ReconnectNeeded, Refused, RetryLater,
                                RetryPolicy, Status, decide, judge_answer, judge_connection, judge_search)
from daily_sales.domain.outcomes import backoff, validation_messages

from .fakes import START, posted, problem

TENANT = UUID("3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a01")
VALIDATION = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
              "Elements": [{"ValidationErrors": [{"Message": "Account code '200' is not a valid code"},
                                                 {"Message": "Account code '200' is not a valid code"},
                                                 {"Message": "The TaxType code 'OUTPUT2' does not exist"}]}]}


def half() -> float:
    return 0.5


def test_a_created_invoice_is_posted_with_its_id_and_number():
    assert judge_answer(posted(7)) == Posted("inv-7", "INV-0007")
    assert judge_answer(ProxyAnswer(200, body={"Invoices": [{"InvoiceID": "x"}]})) == Posted("x", None)


@pytest.mark.parametrize("body", [{}, {"Invoices": []}, {"Invoices": [{"Status": "DRAFT"}]}, {"Invoices": "x"}])
def test_a_2xx_without_an_invoice_needs_a_person(body):
    assert isinstance(judge_answer(ProxyAnswer(200, body=body)), Refused)


def test_per_invoice_validation_errors_in_a_200_are_a_refusal():
    body = {"Invoices": [{"InvoiceID": "0000", "ValidationErrors": [{"Message": "Contact name is too long"}]}]}
    assert judge_answer(ProxyAnswer(200, body=body)) == Refused("Xero refused the invoice: Contact name is too long")


def test_a_validation_exception_keeps_each_message_once():
    assert judge_answer(ProxyAnswer(400, body=VALIDATION)) == Refused(
        "Xero refused the invoice: Account code '200' is not a valid code; The TaxType code 'OUTPUT2' does not exist")


def test_validation_messages_fall_back_to_the_message_then_the_text():
    assert validation_messages({"Message": "Bad request"}, "") == "Bad request"
    assert validation_messages(None, "plain text") == "plain text"
    assert validation_messages({"Elements": "nonsense"}, "") == "no reason given"


@pytest.mark.parametrize("code", ["store_not_connected", "reconnect_needed", "connection_broken", "missing_scope"])
def test_connection_problems_wait_for_a_reconnection(code):
    outcome = judge_answer(problem(409, code))
    assert isinstance(outcome, ReconnectNeeded) and outcome.problem.startswith(f"{code}: ")


def test_missing_scopes_are_named():
    outcome = judge_answer(problem(409, "reconnect_needed", missing_scopes=["accounting.invoices"]))
    assert outcome.problem.endswith("(missing scopes: accounting.invoices)")


def test_the_proxy_rate_limit_and_xero_outages_are_retried():
    assert judge_answer(problem(429, "rate_limited", 12)) == RetryLater("rate_limited: rate_limited detail", 12,
                                                                        rate_limited=True)
    for status, code in ((502, "xero_unavailable"), (503, "xero_unavailable"), (504, "xero_timeout")):
        outcome = judge_answer(problem(status, code))
        assert isinstance(outcome, RetryLater) and not outcome.rate_limited


@pytest.mark.parametrize("code", ["unauthorized", "forbidden", "path_not_allowed"])
def test_our_own_token_refused_is_retried_loudly_not_blamed_on_the_day(code):
    outcome = judge_answer(problem(401 if code == "unauthorized" else 403, code))
    assert isinstance(outcome, RetryLater) and outcome.alarm


def test_other_proxy_problems_need_a_person():
    assert judge_answer(problem(413, "body_too_large")) == Refused("body_too_large: body_too_large detail")
    assert judge_answer(ProxyAnswer(422, problem={})) == Refused("HTTP 422")


def test_xero_passthrough_statuses():
    assert judge_answer(ProxyAnswer(429, retry_after=30)) == RetryLater("Xero's rate limit was reached", 30,
                                                                        rate_limited=True)
    assert isinstance(judge_answer(ProxyAnswer(503, text="offline for maintenance", retry_after=1)), RetryLater)
    assert isinstance(judge_answer(ProxyAnswer(500)), RetryLater)
    assert isinstance(judge_answer(ProxyAnswer(403, body={"Title": "Forbidden"})), ReconnectNeeded)
    assert judge_answer(ProxyAnswer(404, text="The resource you're looking for cannot be found")) == Refused(
        "Xero answered HTTP 404: The resource you're looking for cannot be found")


def test_the_connection_is_judged_before_posting():
    active = Connection("s-1", TENANT, "Steve Test Store", "active")
    assert judge_connection(active) is None
    assert judge_connection(None).problem.startswith("store_not_connected")
    assert judge_connection(Connection("s-1", TENANT, "Org", "reconnect_needed", ("accounting.payments",))) is None
    assert judge_connection(Connection("s-1", TENANT, "Org", "broken")).problem.startswith("connection_broken")
    assert isinstance(judge_connection(Connection("s-1", TENANT, "Org", "suspended")), ReconnectNeeded)


def test_decisions():
    policy = RetryPolicy(reconnect_check_seconds=3600)
    assert decide(Posted("i", "INV-1"), 1, START, policy, half) == decide(Posted("i", "INV-1"), 9, START, policy, half)
    assert decide(Posted("i", "INV-1"), 1, START, policy, half).status is Status.POSTED
    assert decide(NothingSold(), 1, START, policy, half).status is Status.NO_SALES
    failed = decide(Refused("bad"), 1, START, policy, half)
    assert (failed.status, failed.next_attempt_at, failed.problem) == (Status.FAILED, None, "bad")
    waiting = decide(ReconnectNeeded("gone"), 1, START, policy, half)
    assert (waiting.status, waiting.next_attempt_at) == (Status.RECONNECT_NEEDED, START + timedelta(hours=1))


def test_a_rate_limit_waits_exactly_retry_after_or_the_default_and_never_forever():
    policy = RetryPolicy(default_retry_after_seconds=60, max_retry_after_seconds=86400)
    for retry_after, wait in ((17, 17), (None, 60), (10 ** 7, 86400)):
        decision = decide(RetryLater("429", retry_after, rate_limited=True), 5, START, policy, half)
        assert (decision.status, decision.next_attempt_at) == (Status.PENDING, START + timedelta(seconds=wait))


def test_outages_back_off_exponentially_with_jitter_but_respect_retry_after():
    policy = RetryPolicy(base_seconds=30, max_seconds=3600)
    assert [backoff(n, policy, lambda: 1.0) for n in (1, 2, 3, 4, 8, 20)] == [30, 60, 120, 240, 3600, 3600]
    assert backoff(1, policy, lambda: 0.0) == 15
    assert decide(RetryLater("503"), 1, START, policy, lambda: 1.0).next_attempt_at == START + timedelta(seconds=30)
    assert decide(RetryLater("503", 600), 1, START, policy, lambda: 1.0).next_attempt_at == START + timedelta(
        seconds=600)


def test_a_search_finds_the_days_invoice_by_reference_but_not_a_voided_or_anothers():
    ref = "s-1 2026-03-01"
    found = {"InvoiceID": "i-1", "InvoiceNumber": "INV-0001", "Reference": ref, "Status": "AUTHORISED"}
    assert judge_search(ProxyAnswer(200, body={"Invoices": [found]}), ref) == Posted("i-1", "INV-0001")
    for other in ({**found, "Status": "VOIDED"}, {**found, "Status": "DELETED"}, {**found, "Reference": "x"},
                  {**found, "InvoiceID": None}):
        assert judge_search(ProxyAnswer(200, body={"Invoices": [other]}), ref) is None
    assert judge_search(ProxyAnswer(200, body={"Invoices": []}), ref) is None
    assert judge_search(ProxyAnswer(200, body={}), ref) is None


def test_a_failed_search_stops_only_for_what_would_stop_the_invoice_too():
    ref = "s-1 2026-03-01"
    assert isinstance(judge_search(problem(429, "rate_limited", 5), ref), RetryLater)
    assert isinstance(judge_search(problem(409, "connection_broken"), ref), ReconnectNeeded)
    assert isinstance(judge_search(ProxyAnswer(503), ref), RetryLater)
    assert judge_search(ProxyAnswer(400, body={"Type": "QueryParseException"}), ref) is None
