"""How the merchant's email about a broken connection looks (plain text and HTML, names escaped).

The body depends only on the stored notice and the stop link (signed deterministically from it), so every
retry sends the same bytes with the same Message-ID.
"""

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit
from uuid import UUID

from jinja2 import Environment

from .domain.incidents import MerchantNotice, first_step, store_names, what_happened, what_stops, when
from .rendering import mail_domain, one_line

_HTML = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><body style="font-family:sans-serif;max-width:40em">
<h2>{{ heading }}</h2>
<p>{{ happened }}</p>
<p><strong>What stops working:</strong> {{ stops }}</p>
<p><strong>Since:</strong> {{ since }}</p>
<p>{{ step }}</p>
{% for name, url in reconnect %}{% if url %}<p><a href="{{ url }}" style="display:inline-block;padding:.6em 1.2em;
background:#13b5ea;color:#fff;text-decoration:none;border-radius:4px">Reconnect {{ name }} to Xero</a><br>
<span style="color:#666">or copy this link into your browser: {{ url }}</span></p>
{% else %}<p>Sign in to Cloud POS and open Settings, Xero, then choose Reconnect for {{ name }}.</p>{% endif %}
{% endfor %}
<p>{{ reminders }} <a href="{{ stop }}">Stop these reminders</a>.</p>
<p style="color:#666">Cloud POS &middot; reference {{ reference }}</p>
</body></html>""")


def subject(n: MerchantNotice) -> str:
    which = n.stores[0].store_name if len(n.stores) == 1 else f"{len(n.stores)} stores"
    if n.is_reminder:
        return f"Reminder: {which} {'is' if len(n.stores) == 1 else 'are'} still not connected to Xero"
    return f"Action needed: reconnect {which} to Xero"


def email(n: MerchantNotice, ref: UUID, sender: str, recipient: str, stop_url: str, sent_at: datetime,
          reply_to: str | None = None) -> EmailMessage:
    """`List-Unsubscribe` (RFC 8058 one-click) points at the same stop link as the body."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = one_line(subject(n))
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = f"<{ref}@{mail_domain(sender)}>"
    message["Auto-Submitted"] = "auto-generated"
    message["List-Unsubscribe"] = f"<{stop_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    parts = _parts(n, stop_url)
    message.set_content(text_body(parts))
    message.add_alternative(_HTML.render(n=n, **parts), subtype="html")
    return message


def text_body(parts: dict) -> str:
    lines = [parts["heading"], "", parts["happened"], "", f"What stops working: {parts['stops']}",
             f"Since: {parts['since']}", "", parts["step"]]
    for name, url in parts["reconnect"]:
        lines.append(f"Reconnect {name}: {url}" if url else
                     f"Reconnect {name}: sign in to Cloud POS and open Settings, Xero, then choose Reconnect.")
    lines += ["", parts["reminders"], f"Stop these reminders: {parts['stop']}", "", "Cloud POS",
              f"Reference {parts['reference']}"]
    return "\n".join(lines) + "\n"


def _parts(n: MerchantNotice, stop_url: str) -> dict:
    names = store_names(n.stores)
    store = f"store {names} is" if len(n.stores) == 1 else f"stores {names} are"
    heading = f"Your {store} {'still not' if n.is_reminder else 'no longer'} connected to Xero"
    return {"heading": heading, "happened": what_happened(n.reason, n.organisation_name),
            "stops": what_stops(n.stores), "since": when(n.since), "step": first_step(n.reason),
            "reconnect": [(s.store_name, s.reconnect_url if _web_link(s.reconnect_url) else "") for s in n.stores],
            "reminders": _reminders(n), "stop": stop_url, "reference": str(n.incident_id)}


def _reminders(n: MerchantNotice) -> str:
    if n.is_reminder:
        last = " This is the last reminder." if n.reminder >= n.reminders_total else ""
        return f"This is reminder {n.reminder} of {n.reminders_total}.{last}"
    if n.reminders_total and n.reminder_schedule:
        return f"Until it is fixed we will remind you {n.reminder_schedule}."
    return "We will not remind you again."


def _web_link(url: str) -> bool:
    """Only an http(s) link becomes a button: the event is trusted, but a link in an email must never run code."""
    parts = urlsplit(url)
    return parts.scheme in ("https", "http") and bool(parts.netloc)
