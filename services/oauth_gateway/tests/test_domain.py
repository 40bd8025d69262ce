"""The pure rules: subscription gate, callback checks, flow and session rules."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from oauth_gateway.domain.callback import BadCallback, parse_callback
from oauth_gateway.domain.model import AuthorisedOrg, Flow, Grant, GrantStatus, StoreRef, TokenSet, WebSession
from oauth_gateway.domain.subscription import Verdict, gate

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ISSUER = "https://identity.xero.com"


@pytest.mark.parametrize("plan", ["STANDARD", "PREMIUM", "PREMIUM_20", "GROW", "COMPREHENSIVE", "ULTIMATE_50",
                                  "ULTRA", "standard"])
def test_standard_or_better_is_accepted(plan):
    assert gate(plan).verdict is Verdict.ACCEPTED


@pytest.mark.parametrize(("plan", "words"), [
    ("TRIAL", "trial"), ("STARTER", "Starter plan"), ("IGNITE", "Ignite plan"), ("LITE", "Lite plan"),
    ("SIMPLE", "Simple plan"), ("BASICLITE", "Basiclite plan"), ("DEMO", "Demo Company"),
    ("LEDGER", "cannot hold invoices"), ("GST_CASHBOOK", "cannot hold invoices")])
def test_trial_starter_successors_demo_and_partner_plans_are_refused_with_a_reason(plan, words):
    decision = gate(plan, name="Acme")
    assert decision.verdict is Verdict.REFUSED and not decision.accepted
    assert words in (decision.reason or "") and "'Acme'" in (decision.reason or "")


def test_a_demo_company_flag_refuses_whatever_the_class():
    assert gate("STANDARD", is_demo_company=True).verdict is Verdict.REFUSED


@pytest.mark.parametrize("plan", ["HYPERDRIVE", "", None])
def test_an_unknown_class_is_accepted_for_review_never_a_crash(plan):
    decision = gate(plan)
    assert decision.verdict is Verdict.UNKNOWN_ACCEPTED and decision.accepted


def test_a_well_formed_callback_parses():
    assert parse_callback([("code", "c"), ("state", "s"), ("scope", "x")], ISSUER).code == "c"
    assert parse_callback([("error", "access_denied"), ("state", "s")], ISSUER).error == "access_denied"
    assert parse_callback([("code", "c"), ("state", "s"), ("iss", ISSUER + "/")], ISSUER).state == "s"


@pytest.mark.parametrize("params", [
    [("code", "c")], [("state", "")], [("state", "s")], [("state", "s"), ("code", "c"), ("error", "e")],
    [("state", "s"), ("state", "t"), ("code", "c")], [("state", "s"), ("code", "c"), ("code", "d")],
    [("state", "s"), ("code", "c"), ("iss", "https://evil.example")], [("state", "s" * 201), ("code", "c")]])
def test_malformed_or_forged_callbacks_are_refused(params):
    with pytest.raises(BadCallback):
        parse_callback(params, ISSUER)


def _session(**changes) -> WebSession:
    base = dict(session_hash=b"h", user_id="u-1", merchant_id="m-1", merchant_name="M", display_name="D",
                created_at=NOW, last_seen_at=NOW, stores=(StoreRef("s-1", "One"),))
    return WebSession(**{**base, **changes})


def test_sessions_expire_when_idle_or_too_old_and_own_only_their_stores():
    idle, absolute = timedelta(minutes=30), timedelta(hours=12)
    assert not _session().expired(NOW + timedelta(minutes=29), idle, absolute)
    assert _session().expired(NOW + timedelta(minutes=31), idle, absolute)
    assert _session(last_seen_at=NOW + timedelta(hours=12)).expired(NOW + timedelta(hours=12, minutes=1), idle,
                                                                    absolute)
    assert _session().store("s-1") == StoreRef("s-1", "One") and _session().store("s-2") is None


def test_a_flow_belongs_to_its_session_and_offers_only_its_consents_organisations():
    tenant = uuid4()
    flow = Flow(uuid4(), b"h", "m-1", "u-1", "s-1", "One", "n", NOW,
                organisations=(AuthorisedOrg(tenant, uuid4(), "Org"),))
    assert flow.belongs_to(_session()) and not flow.belongs_to(_session(session_hash=b"other"))
    assert not flow.belongs_to(_session(merchant_id="m-2"))
    assert flow.organisation(str(tenant).upper()) is not None and flow.organisation(str(uuid4())) is None
    assert flow.expired(NOW + timedelta(minutes=11), timedelta(minutes=10))


def test_grants_refresh_before_expiry_and_keep_alive_when_idle():
    tokens = TokenSet("a", "r", NOW + timedelta(minutes=30), ("openid",))
    grant = Grant("g-1", "sub", 1, GrantStatus.ACTIVE, tokens, NOW)
    assert not grant.needs_refresh(NOW) and grant.needs_refresh(NOW + timedelta(minutes=29))
    assert not grant.keepalive_due(NOW + timedelta(days=13), timedelta(days=14))
    assert grant.keepalive_due(NOW + timedelta(days=14), timedelta(days=14))
