"""What the helpdesk receives: complete, escaped, identical on every retry, and free of secrets."""

import json
import re
from email import message_from_bytes, policy
from uuid import uuid4

from notifier import rendering
from notifier.domain.health import broken_notice
from notifier.domain.incidents import ReminderSchedule
from notifier.domain.notifications import Notification, notification_for
from shared.contracts import ConnectionBroken, SetupCompleted, StoreLink
from shared.contracts.examples import ALL, INCIDENT, LINK, TENANT

from .fakes import START

EVIL = "Bob's <script>alert(1)</script> & Co\r\nBcc: victim@example.com"
SECRETISH = re.compile(r"token|secret|password|api_?key|key_id|grant|credential", re.I)


def notification(name: str = "Steve's Cycles") -> Notification:
    links = (LINK, StoreLink(store_id="s-2", store_name="Second <b>shop</b>", tenant_id=TENANT,
                             organisation_name="Steve & Sons Ltd"))
    event = SetupCompleted(merchant_id="m-1", merchant_name=name, links=links, completed_by="u-1")
    return notification_for(uuid4(), START, event)


def test_email_has_text_and_html_parts_the_map_and_next_steps():
    n, ref = notification(), uuid4()
    raw = rendering.email(n, ref, "Cloud POS Xero <noreply@xero.cloudpos.test>", ["help@desk.test"], START)
    parsed = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Message-ID"] == f"<{ref}@xero.cloudpos.test>"
    assert parsed["Subject"] == "Xero setup ready to finalise: Steve's Cycles"
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    for body in (text, html):
        assert "m-1" in body and "Finalise the Xero integration" in body and str(TENANT) in body
    assert "Steve Test Store (s-1) -> Steve Test Store" in text
    assert "Steve &amp; Sons Ltd" in html and "Second &lt;b&gt;shop&lt;/b&gt;" in html


def test_merchant_names_cannot_inject_markup_or_headers():
    raw = rendering.email(notification(EVIL), uuid4(), "noreply@x.test", ["help@desk.test"], START)
    parsed = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None and "\n" not in parsed["Subject"]
    html = parsed.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_webhook_body_is_standard_webhooks_shaped_and_stable():
    n = notification()
    body = rendering.webhook_body(n)
    assert body == rendering.webhook_body(Notification.model_validate_json(n.model_dump_json()))
    payload = json.loads(body)
    assert payload["type"] == "integration.ready_to_finalise"
    assert payload["timestamp"] == START.isoformat()
    assert payload["data"]["merchant_id"] == "m-1" and payload["data"]["event_id"] == str(n.event_id)
    assert [link["store_id"] for link in payload["data"]["links"]] == ["s-1", "s-2"]


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_payloads_carry_ids_and_names_only_no_token_or_key_fields():
    """Checklist 50: neither the schema nor an actual payload has a field that could hold a secret."""
    schema_fields = _keys(Notification.model_json_schema())
    payload_fields = _keys(json.loads(rendering.webhook_body(notification())))
    assert not [f for f in schema_fields | payload_fields if SECRETISH.search(f)]


def test_a_broken_connection_tells_the_helpdesk_store_organisation_reason_since_and_who_authorised():
    event = next(e for e in ALL if isinstance(e, ConnectionBroken))
    n, ref = broken_notice(uuid4(), START, event, None, ReminderSchedule()), uuid4()
    raw = rendering.email(n, ref, "noreply@x.test", ["help@desk.test"], START)
    parsed = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Xero connection broken: Steve Test Store (merchant m-1)"
    text, html = parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()
    for body in (text, html):
        assert "removed from the organisation inside Xero" in body and "2 March 2026 at 09:30 UTC" in body
        assert "Steve Tester" in body and "steve@xero-demo.test" in body and str(INCIDENT) in body
    assert "Merchant: m-1\n" in text and "Steve Test Store (s-1) -> Steve Test Store" in text
    assert event.reconnect_url not in text + html  # the merchant's link is for the merchant
    payload = json.loads(rendering.webhook_body(n))
    assert payload["type"] == "integration.connection_broken"
    assert payload["data"]["incident_id"] == str(INCIDENT) and payload["data"]["authorised_by"]["name"] == "Steve Tester"
    assert "incident_id" not in json.loads(rendering.webhook_body(notification()))["data"]  # older kinds unchanged
