"""Assembles the helpdesk sandbox's HTTP side: webhook receiver, read endpoints and an inbox page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from sandboxes.helpdesk.mailbox import Mailbox
from sandboxes.helpdesk.settings import HelpdeskSandboxSettings
from sandboxes.helpdesk.webhooks import DeliveryLog, build_webhook_router

_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Helpdesk sandbox</title>
<style>body{font-family:sans-serif;margin:2em}article{border:1px solid #ccc;padding:.5em 1em;margin:.5em 0}
pre{white-space:pre-wrap}.bad{color:#a00}</style></head><body><h1>Helpdesk sandbox</h1>
<h2>Mail ({{ mail|length }})</h2>
{% for m in mail %}<article class="mail"><h3>{{ m.subject }}</h3>
<p>To: {{ m.to|join(', ') }} &middot; From: {{ m['from'] }} &middot; {{ m.received_at }}</p>
<pre>{{ m.text or '' }}</pre></article>{% else %}<p>No mail yet.</p>{% endfor %}
<h2>Webhooks ({{ hooks|length }})</h2>
{% for h in hooks %}<article class="webhook {{ '' if h.verified else 'bad' }}">
<p>{{ h.webhook_id }} &middot; status {{ h.status }} &middot; {{ 'verified' if h.verified else 'NOT verified' }}
&middot; {{ h.received_at }}</p><pre>{{ h.body|tojson(indent=2) }}</pre></article>
{% else %}<p>No webhooks yet.</p>{% endfor %}</body></html>""")


def build_app(settings: HelpdeskSandboxSettings, mailbox: Mailbox | None = None,
              clock: Callable[[], datetime] | None = None) -> FastAPI:
    """Pass the same `mailbox` to `start_smtp` so `/mail` shows what the SMTP sink received."""
    clock = clock or (lambda: datetime.now(UTC))
    mailbox = mailbox or Mailbox(clock)
    log = DeliveryLog(clock)
    app = FastAPI(title="Helpdesk sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.mailbox, app.state.deliveries = mailbox, log
    app.include_router(build_webhook_router(log, settings.webhook_secret.get_secret_value()))

    @app.get("/mail")
    async def mail() -> list[dict]:
        return mailbox.messages()

    @app.get("/webhooks")
    async def webhooks() -> list[dict]:
        return log.deliveries()

    @app.post("/_sandbox/reset")
    async def reset() -> dict:
        """Forget all mail and deliveries and bring the receiver back up."""
        mailbox.clear()
        log.clear()
        return {"reset": True}

    @app.get("/", response_class=HTMLResponse)
    async def inbox() -> HTMLResponse:
        newest_first = {"mail": mailbox.messages()[::-1], "hooks": log.deliveries()[::-1]}
        return HTMLResponse(_PAGE.render(**newest_first))

    return app
