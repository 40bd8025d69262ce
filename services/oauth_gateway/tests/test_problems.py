"""Refusals become pages in one place: every code has a page, and passed-on answers keep their meaning."""

from uuid import uuid4

import pytest

from oauth_gateway.domain import refusals
from oauth_gateway.domain.refusals import Code, Refusal
from oauth_gateway.entrypoints.problems import problem_of


@pytest.mark.parametrize("code", list(Code))
def test_every_refusal_code_has_a_page(code: Code) -> None:
    problem = problem_of(Refusal(code, "Something a merchant can read."))

    assert 400 <= problem.status < 600 and problem.title and problem.next_url == "/"
    assert problem.code == code.value and problem.message == "Something a merchant can read."


@pytest.mark.parametrize(("refusal", "status", "code"), [
    (refusals.key_refused(429, "too_many_attempts", "Wait."), 429, "too_many_attempts"),
    (refusals.key_refused(502, "odd", "Odd."), 400, "odd"),
    (refusals.completion_refused("merchant_unknown", "Unknown."), 400, "merchant_unknown"),
])
def test_answers_passed_on_keep_their_code_and_meaning(refusal: Refusal, status: int, code: str) -> None:
    problem = problem_of(refusal)

    assert (problem.status, problem.code, problem.message) == (status, code, refusal.message)


def test_every_refused_sign_in_is_one_answer_and_only_a_busy_address_says_when_to_come_back() -> None:
    refused, throttled = problem_of(refusals.sign_in_refused()), problem_of(refusals.sign_in_throttled(600))

    assert (refused.status, refused.code) == (401, "sign_in_refused") and "reset your password" in refused.message
    assert (throttled.status, throttled.code) == (429, "sign_in_throttled") and "10 minutes" in throttled.message


def test_a_refusal_on_the_selection_page_leads_back_to_it() -> None:
    flow_id = uuid4()

    problem = problem_of(refusals.xero_unavailable(90, flow_id))

    assert (problem.status, problem.next_url, problem.next_label) == (503, f"/connect/{flow_id}",
                                                                       "Select an Organisation")
    assert "2 minute(s)" in problem.message
