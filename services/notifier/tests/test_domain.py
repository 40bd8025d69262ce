"""The notifier's rules: what the helpdesk is told, how attempts are judged, when to retry or park."""

from datetime import timedelta
from uuid import uuid4

import pytest

from notifier.domain.delivery import (
    AttemptResult,
    Channel,
    Outcome,
    RetryPolicy,
    Status,
    after_attempt,
    delivery_id,
    judge_http,
    plan,
)
from notifier.domain.notifications import Kind, notification_for
from shared.contracts import ConnectionsChanged, OrgDisconnected
from shared.contracts.examples import ALL, LINK

from .fakes import START

SETUP = next(e for e in ALL if e.type.endswith("SetupCompleted.v1"))
POLICY = RetryPolicy(schedule=(5.0, 300.0, 1800.0))


def changed(reason: str, links=(LINK,)) -> ConnectionsChanged:
    return ConnectionsChanged(merchant_id="m-1", merchant_name="Steve's Cycles", summary="Steve Test Store left",
                              reason=reason, links=links)


def test_a_completion_tells_who_the_merchant_is_the_map_and_to_finalise():
    n = notification_for(uuid4(), START, SETUP)
    assert n.kind is Kind.READY_TO_FINALISE and n.action_needed
    assert (n.merchant_id, n.merchant_name) == ("m-1", "Steve's Cycles")
    assert n.links == (LINK,)
    assert "Finalise the Xero integration" in n.next_steps


@pytest.mark.parametrize("reason", ["removed_in_xero", "grant_invalid", "organisation_deleted"])
def test_a_broken_connection_asks_the_helpdesk_to_contact_the_merchant(reason):
    n = notification_for(uuid4(), START, changed(reason))
    assert n.kind is Kind.CONNECTIONS_CHANGED and n.action_needed
    assert n.change.reason == reason and "Contact the merchant" in n.next_steps


def test_an_ordinary_change_only_asks_for_an_update_but_an_empty_map_needs_action():
    assert not notification_for(uuid4(), START, changed("store_connected")).action_needed
    assert notification_for(uuid4(), START, changed("merchant_request", links=())).action_needed


def test_events_the_notifier_does_not_consume_are_refused():
    org = next(e for e in ALL if isinstance(e, OrgDisconnected))
    with pytest.raises(TypeError):
        notification_for(uuid4(), START, org)


def test_one_delivery_per_channel_with_ids_stable_for_the_event_and_channel():
    n = notification_for(uuid4(), START, SETUP)
    planned = plan(n, (Channel.EMAIL, Channel.WEBHOOK), START)
    assert [d.channel for d in planned] == [Channel.EMAIL, Channel.WEBHOOK]
    assert [d.delivery_id for d in planned] == [delivery_id(n.event_id, c) for c in (Channel.EMAIL, Channel.WEBHOOK)]
    assert planned[0].delivery_id != planned[1].delivery_id and {d.due_at for d in planned} == {START}


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.DELIVERED), (204, Outcome.DELIVERED), (301, Outcome.PERMANENT), (302, Outcome.PERMANENT),
    (400, Outcome.PERMANENT), (401, Outcome.PERMANENT), (404, Outcome.PERMANENT), (410, Outcome.PERMANENT),
    (408, Outcome.TRANSIENT), (409, Outcome.TRANSIENT), (425, Outcome.TRANSIENT), (429, Outcome.TRANSIENT),
    (500, Outcome.TRANSIENT), (502, Outcome.TRANSIENT), (503, Outcome.TRANSIENT)])
def test_http_statuses_are_judged_like_standard_webhooks(status, outcome):
    assert judge_http(status).outcome is outcome


def test_retry_after_counts_only_on_429_and_503():
    assert judge_http(429, 60).retry_after == 60
    assert judge_http(503, 60).retry_after == 60
    assert judge_http(500, 60).retry_after is None


def test_delivered_and_permanent_results_end_the_delivery():
    assert after_attempt(AttemptResult(Outcome.DELIVERED), 1, POLICY, START, lambda: 0.5).status is Status.DELIVERED
    parked = after_attempt(judge_http(410), 1, POLICY, START, lambda: 0.5)
    assert parked.status is Status.PARKED and "HTTP 410" in parked.note


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_full_jitter_keeps_each_retry_between_now_and_its_step(attempt):
    step = POLICY.schedule[attempt - 1]
    low = after_attempt(judge_http(503), attempt, POLICY, START, lambda: 0.0)
    high = after_attempt(judge_http(503), attempt, POLICY, START, lambda: 0.999)
    assert low.next_attempt_at == START
    assert START + timedelta(seconds=step * 0.99) < high.next_attempt_at < START + timedelta(seconds=step)


def test_retry_after_wins_when_longer_than_the_jittered_wait_and_is_capped():
    decision = after_attempt(judge_http(429, 600.0), 1, POLICY, START, lambda: 0.5)
    assert decision.next_attempt_at == START + timedelta(seconds=600)
    capped = after_attempt(judge_http(429, 10**9), 1, POLICY, START, lambda: 0.5)
    assert capped.next_attempt_at == START + timedelta(seconds=POLICY.max_retry_after)


def test_the_schedule_exhausted_parks_the_delivery():
    assert POLICY.max_attempts == 4
    assert after_attempt(judge_http(503), 3, POLICY, START, lambda: 0.5).status is Status.PENDING
    parked = after_attempt(judge_http(503), 4, POLICY, START, lambda: 0.5)
    assert parked.status is Status.PARKED and "4 attempts failed" in parked.note
