"""Helpdesk sinks per test: the SMTP server on a free port and the HTTP side via `serve_app`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from sandboxes.helpdesk import HelpdeskSandboxSettings, Mailbox, build_app, start_smtp

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_port(mailbox, unused_tcp_port) -> Iterator[int]:
    """The SMTP sink, stopped after the test so no server thread outlives it."""
    controller = start_smtp(mailbox, "127.0.0.1", unused_tcp_port)
    yield unused_tcp_port
    controller.stop()


def _serve(serve_app, mailbox: Mailbox, secret: str) -> Iterator[httpx.Client]:
    app = build_app(HelpdeskSandboxSettings(webhook_secret=secret), mailbox)
    with httpx.Client(base_url=serve_app(app), timeout=10) as client:
        yield client


@pytest.fixture
def helpdesk(serve_app, mailbox) -> Iterator[httpx.Client]:
    """HTTP side with the test secret, sharing the mailbox the SMTP sink fills."""
    yield from _serve(serve_app, mailbox, SECRET)


@pytest.fixture
def unsigned_helpdesk(serve_app, mailbox) -> Iterator[httpx.Client]:
    """HTTP side configured with an empty secret: deliveries are kept but not verified."""
    yield from _serve(serve_app, mailbox, "")


@pytest.fixture
def signed():
    """Build (body bytes, headers) for a delivery signed the way the notifier signs it."""

    def sign(payload, secret: str = SECRET, at: datetime | None = None, msg_id: str | None = None):
        body = payload if isinstance(payload, str) else json.dumps(payload)
        msg_id, at = msg_id or f"msg_{uuid.uuid4().hex}", at or datetime.now(UTC)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": Webhook(secret).sign(msg_id, at, body),
                   "content-type": "application/json"}
        return body.encode(), headers

    return sign
