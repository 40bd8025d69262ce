"""The link in a merchant's email that stops the reminders of one incident: signed, single-purpose, expiring.

Token = `v1.<base64url(merchant_id \\n incident_id \\n expiry)>.<base64url(HMAC-SHA256)>`, the MAC taken over a
purpose label and the payload with the `reminder_link_secret`. The purpose label keeps a MAC made for anything
else (now or later) from passing as a stop link; the expiry bounds how long a forwarded email can act.
"""

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from .refusals import Code, Refusal

_PURPOSE = b"notifier/stop-reminders/v1\n"
_MAX_TOKEN = 600


@dataclass(frozen=True, slots=True)
class StopRequest:
    merchant_id: str
    incident_id: UUID
    expires_at: datetime


def stop_token(secret: bytes, merchant_id: str, incident_id: UUID, expires_at: datetime) -> str:
    """Deterministic: the same incident and expiry sign to the same token, so every retry sends the same email."""
    payload = f"{merchant_id}\n{incident_id}\n{int(expires_at.timestamp())}".encode()
    return f"v1.{_b64(payload)}.{_b64(_mac(secret, payload))}"


def read_stop_token(secret: bytes, token: str | None, now: datetime) -> StopRequest | Refusal:
    """The request the token carries, or why it is refused; never raises on any input."""
    if not token:
        return Refusal(Code.LINK_INCOMPLETE, "This link is incomplete: it carries no code.")
    invalid = Refusal(Code.LINK_INVALID, "This link is not valid: it may have been copied incompletely or changed.")
    parts = token.split(".") if len(token) <= _MAX_TOKEN else []
    if len(parts) != 3 or parts[0] != "v1":
        return invalid
    try:
        payload, mac = _unb64(parts[1]), _unb64(parts[2])
        merchant_id, incident, expiry = payload.decode().split("\n")
        request = StopRequest(merchant_id, UUID(incident), datetime.fromtimestamp(int(expiry), UTC))
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError, OSError):
        return invalid
    if not hmac.compare_digest(mac, _mac(secret, payload)) or not merchant_id:
        return invalid
    if now >= request.expires_at:
        return Refusal(Code.LINK_EXPIRED, "This link has expired.")
    return request


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _PURPOSE + payload, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
