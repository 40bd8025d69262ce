"""How a notification looks: the signed webhook body and the email (plain text and HTML, names escaped).

Bodies depend only on the stored notification, so every retry sends the same bytes and the same ids.
"""

import json
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from datetime import datetime
from typing import Any
from uuid import UUID

from jinja2 import Environment

from .domain.incidents import when
from .domain.notifications import INCIDENT_FIELDS, Kind, Notification

_HTML = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><body style="font-family:sans-serif">
<h2>{{ title }}</h2>
<p><strong>Merchant:</strong> {{ n.merchant }}</p>
{% if n.change %}<p><strong>What changed:</strong> {{ n.change.summary }} ({{ n.change.reason }})</p>{% endif %}
{% for label, value in incident %}<p><strong>{{ label }}:</strong> {{ value }}</p>{% endfor %}
<p><strong>What to do next:</strong> {{ n.next_steps }}</p>
{% if n.links %}<table border="1" cellpadding="4" cellspacing="0">
<tr><th>Store</th><th>Store id</th><th>Xero organisation</th><th>Tenant id</th></tr>
{% for s in n.links %}<tr><td>{{ s.store_name }}</td><td>{{ s.store_id }}</td><td>{{ s.organisation_name }}</td>
<td>{{ s.tenant_id }}</td></tr>{% endfor %}</table>
{% else %}<p>No store is connected to Xero.</p>{% endif %}
<p style="color:#666">Event {{ n.event_id }} at {{ n.occurred_at.isoformat() }} &middot; notification {{ ref }}</p>
</body></html>""")


def title(n: Notification) -> str:
    store = n.links[0].store_name if n.links else ""
    match n.kind:
        case Kind.READY_TO_FINALISE:
            return f"Xero setup ready to finalise: {n.merchant_name}"
        case Kind.CONNECTION_BROKEN:
            return f"Xero connection broken: {store} (merchant {n.merchant_id})"
        case Kind.CONNECTION_RESTORED if n.action_needed:
            return f"Check: Xero connection restored to another organisation: {store} (merchant {n.merchant_id})"
        case Kind.CONNECTION_RESTORED:
            return f"Xero connection restored: {store} (merchant {n.merchant_id})"
        case Kind.MERCHANT_UNREACHABLE if n.incident_id is None:    # a reminder to finish the setup
            return f"Action needed: call merchant {n.merchant_id}, no contact email (Xero setup not finished)"
        case Kind.MERCHANT_UNREACHABLE:
            return f"Action needed: call merchant {n.merchant_id}, no contact email (Xero connection broken: {store})"
    prefix = "Action needed: Xero connection broken" if n.action_needed else "Xero connections changed"
    return f"{prefix}: {n.merchant_name}"


def incident_lines(n: Notification) -> list[tuple[str, str]]:
    """Since when, who authorised the connection, which incident: what a connection-health notice adds."""
    lines = []
    if n.since:
        lines.append(("Broken since", when(n.since)))
    if n.authorised_by:
        who = n.authorised_by
        email = f" <{who.email}>" if who.email else ""
        lines.append(("Authorised in Xero by", f"{who.name or 'unknown name'}{email} (Xero user {who.xero_userid})"))
    if n.incident_id:
        lines.append(("Incident", str(n.incident_id)))
    return lines


def webhook_body(n: Notification) -> str:
    """The Standard Webhooks payload `{type, timestamp, data}`; canonical JSON, identical on every retry."""
    empty = {f for f in INCIDENT_FIELDS if getattr(n, f) is None}
    data: dict[str, Any] = n.model_dump(mode="json", exclude={"kind", "occurred_at", *empty})
    payload = {"type": n.kind.value, "timestamp": n.occurred_at.isoformat(), "data": data}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def text_body(n: Notification, ref: UUID) -> str:
    lines = [title(n), "", f"Merchant: {n.merchant}"]
    if n.change:
        lines.append(f"What changed: {n.change.summary} ({n.change.reason})")
    lines += [f"{label}: {value}" for label, value in incident_lines(n)]
    lines += ["", "What to do next:", n.next_steps, "", "Store -> Xero organisation:"]
    lines += [f"  - {s.store_name} ({s.store_id}) -> {s.organisation_name} (tenant {s.tenant_id})"
              for s in n.links] or ["  (no store is connected to Xero)"]
    lines += ["", f"Event {n.event_id} at {n.occurred_at.isoformat()} - notification {ref}"]
    return "\n".join(lines) + "\n"


def email(n: Notification, ref: UUID, sender: str, recipients: list[str], sent_at: datetime) -> EmailMessage:
    """The Message-ID comes from the delivery id, so a resend after a lost acknowledgement is recognisable."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = one_line(title(n))
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = f"<{ref}@{mail_domain(sender)}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text_body(n, ref))
    message.add_alternative(_HTML.render(n=n, title=title(n), ref=ref, incident=incident_lines(n)), subtype="html")
    return message


def one_line(text: str) -> str:
    """Names come from merchants: no line break may reach a header."""
    return " ".join(text.split())


def mail_domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "notifier.invalid"
