"""How the merchant's "finish your Xero setup" email looks (plain text and HTML, names escaped).

The body depends only on the stored reminder and the setup page's address, so every retry sends the same bytes
with the same Message-ID. No stop link: each email is one agent's request, not a schedule.
"""

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit
from uuid import UUID

from jinja2 import Environment

from .domain.setup_reminders import FINISH_BUTTON, SetupReminder, by_organisation, connected_so_far
from .rendering import mail_domain, one_line

SUBJECT = "Finish connecting your stores to Xero"
_HTML = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><body style="font-family:sans-serif;max-width:40em">
<h2>Your Xero setup is not finished yet</h2>
<p>{{ so_far }}</p>
{% for organisation, stores in organisations %}<p><strong>Xero organisation '{{ organisation }}':</strong>
{{ stores | join(", ") }}</p>
{% endfor %}
<p>{{ why }}</p>
{% if url %}<p><a href="{{ url }}" style="display:inline-block;padding:.6em 1.2em;background:#13b5ea;color:#fff;
text-decoration:none;border-radius:4px">Open the Xero setup page</a><br>
<span style="color:#666">or copy this link into your browser: {{ url }}</span></p>
{% else %}<p>{{ where }}</p>{% endif %}
<p>{{ more }}</p>
<p style="color:#666">Cloud POS &middot; {{ merchant }} &middot; reference {{ reference }}</p>
</body></html>""")


def email(reminder: SetupReminder, ref: UUID, sender: str, recipient: str, setup_page_url: str | None,
          sent_at: datetime, reply_to: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = one_line(SUBJECT)
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = f"<{ref}@{mail_domain(sender)}>"
    message["Auto-Submitted"] = "auto-generated"
    parts = _parts(reminder, ref, setup_page_url)
    message.set_content(text_body(parts))
    message.add_alternative(_HTML.render(**parts), subtype="html")
    return message


def text_body(parts: dict) -> str:
    lines = ["Your Xero setup is not finished yet", "", parts["so_far"], ""]
    lines += [f"Xero organisation '{org}': {', '.join(stores)}" for org, stores in parts["organisations"]]
    lines += ["", parts["why"], ""]
    lines.append(f"Open the Xero setup page: {parts['url']}" if parts["url"] else parts["where"])
    lines += ["", parts["more"], "", "Cloud POS", f"{parts['merchant']} - reference {parts['reference']}"]
    return "\n".join(lines) + "\n"


def _parts(reminder: SetupReminder, ref: UUID, setup_page_url: str | None) -> dict:
    return {"so_far": connected_so_far(reminder), "organisations": by_organisation(reminder.links),
            "why": f"The setup is not finished until you click \"{FINISH_BUTTON}\" on the Xero setup page. Until "
                   "then our helpdesk cannot turn the integration on, and your sales are not posted to Xero.",
            "url": setup_page_url if setup_page_url and _web_link(setup_page_url) else "",
            "where": "Sign in to Cloud POS and open Settings, Xero, to reach the Xero setup page.",
            "more": "Connect any other store you want to post to Xero first; then click the button. If something "
                    "stops you, contact our helpdesk.",
            "merchant": reminder.merchant_name, "reference": str(ref)}


def _web_link(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("https", "http") and bool(parts.netloc)
