"""The helpdesk pages' login: one shared `helpdesk_token` plus a self-declared helpdesk id (recorded as the
actor of what they do), kept in a signed, HttpOnly, SameSite=Strict cookie; every POST form also carries a
CSRF token derived from that cookie.

The signing key is derived from the helpdesk token, so rotating the token signs everyone out. No session
is stored server-side; a cookie is worth nothing after `expires`.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from pydantic import SecretStr

from shared.internal_api import same_secret
from shared.ports import Clock

COOKIE = "registry_helpdesk"
HELPDESK_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class HelpdeskSession:
    helpdesk_id: str
    csrf: str


class HelpdeskSessions:
    def __init__(self, token: SecretStr, *, hours: int, clock: Clock) -> None:
        self._token = token
        self._key = hmac.new(token.get_secret_value().encode(), b"connection_registry/helpdesk-session",
                             hashlib.sha256).digest()
        self._seconds = hours * 3600
        self._clock = clock
        self.max_age = self._seconds

    def sign_in(self, helpdesk_id: str, token: str) -> str | None:
        """The cookie value for a good token and a well-formed id; None otherwise (the same for both)."""
        if not same_secret(token, self._token) or not HELPDESK_ID.match(helpdesk_id):
            return None
        expires = int(self._clock().timestamp()) + self._seconds
        payload = f"{helpdesk_id}|{expires}|{secrets.token_urlsafe(12)}"
        return f"{payload}|{self._mac('session', payload)}"

    def session(self, cookie: str | None) -> HelpdeskSession | None:
        """Who is signed in, if the cookie is ours and current."""
        if not cookie or cookie.count("|") != 3:
            return None
        payload, mac = cookie.rsplit("|", 1)
        helpdesk_id, expires, _nonce = payload.split("|")
        if not hmac.compare_digest(mac.encode(), self._mac("session", payload).encode()):  # bytes: no 500 on non-ASCII
            return None
        if not expires.isdigit() or int(expires) < self._clock().timestamp():
            return None
        return HelpdeskSession(helpdesk_id, self._mac("csrf", cookie))

    @staticmethod
    def csrf_ok(session: HelpdeskSession, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}|{text}".encode(), hashlib.sha256).hexdigest()
