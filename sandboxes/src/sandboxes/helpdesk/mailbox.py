"""SMTP sink: an aiosmtpd server that parses and keeps every message, for tests to read back."""

from __future__ import annotations

import email
import email.policy
import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    return None if body is None else body.get_content()


def parse_message(raw: bytes) -> dict:
    """The fields a helpdesk agent sees: sender, recipients, subject and both bodies."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return {
        "from": str(message.get("From", "")),
        "to": [address for _, address in getaddresses([str(v) for v in message.get_all("To", [])])],
        "cc": [address for _, address in getaddresses([str(v) for v in message.get_all("Cc", [])])],
        "subject": str(message.get("Subject", "")).strip(),   # a subject folded right after the colon
        "message_id": str(message.get("Message-ID", "")) or None,
        "headers": {name: str(value) for name, value in message.items()},
        "text": _part(message, "plain"),
        "html": _part(message, "html"),
    }


class Mailbox:
    """Thread-safe: the SMTP server and the HTTP server each run their own event loop thread."""

    def __init__(self, clock: Callable[[], datetime] | None = None):
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._messages: list[dict] = []

    def add(self, raw: bytes, envelope_from: str, envelope_to: list[str], auth_login: str | None = None) -> dict:
        record = {
            "id": next(self._ids),
            "received_at": self._clock().isoformat(),
            "envelope_from": envelope_from,
            "envelope_to": list(envelope_to),
            "auth_login": auth_login,
            **parse_message(raw),
        }
        with self._lock:
            self._messages.append(record)
        return record

    def messages(self) -> list[dict]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


class _Handler:
    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook name)
        auth = getattr(session, "auth_data", None)
        login = auth.login.decode(errors="replace") if isinstance(auth, LoginPassword) else None
        raw = envelope.original_content or envelope.content
        self.mailbox.add(raw, envelope.mail_from, envelope.rcpt_tos, login)
        return "250 Message accepted for delivery"


def _accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """A relay that needs credentials must still work against the sink; they are never checked or kept."""
    return AuthResult(success=True, auth_data=auth_data)


def start_smtp(mailbox: Mailbox, host: str = "127.0.0.1", port: int = 8725) -> Controller:
    """Start the sink in its own thread; call `.stop()` on the result to shut it down."""
    controller = Controller(
        _Handler(mailbox), hostname=host, port=port, enable_SMTPUTF8=True,
        authenticator=_accept_any_login, auth_require_tls=False,
    )
    controller.start()
    return controller
