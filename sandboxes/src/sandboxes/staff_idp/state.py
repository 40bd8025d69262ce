"""What the identity provider remembers, in memory: staff, browser sessions, authorize requests waiting for a
password, authorization codes and access tokens.

No HTTP here, so the rules (single-use short-lived codes, PKCE, a reused code revoking what it produced, logout
ending the session's tokens) read in one place. Time comes from `clock` (seconds) so tests can move it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import bcrypt

from sandboxes.staff_idp.demo_data import DEMO_PASSWORD, STAFF, StaffMember
from sandboxes.staff_idp.settings import StaffIdpSandboxSettings

Clock = Callable[[], float]
PENDING_SECONDS = 600


@cache
def _hash(password: str) -> bytes:
    """bcrypt once per process: per-test sandboxes stay fast."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10))


@dataclass
class IdpSession:
    id: str          # the cookie's value: a secret
    sid: str         # the public session id, the ID token's `sid`
    sub: str
    auth_time: int
    expires_at: float


@dataclass(frozen=True)
class AuthRequest:
    """An authorize request that passed every check."""
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    max_age: int | None = None
    created_at: float = 0.0


@dataclass
class Grant:
    """What a code carries into the tokens it is exchanged for."""
    request: AuthRequest
    sub: str
    sid: str
    auth_time: int
    expires_at: float
    used: bool = False
    access_tokens: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccessToken:
    sub: str
    sid: str
    scopes: tuple[str, ...]
    expires_at: float


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class StaffIdpState:
    def __init__(self, settings: StaffIdpSandboxSettings, clock: Clock = time.time) -> None:
        self.settings, self.clock = settings, clock
        self.staff = {member.sub: member for member in STAFF}
        self._by_email = {member.email.lower(): member for member in STAFF}
        self._password_hash = {member.sub: _hash(DEMO_PASSWORD) for member in STAFF}
        self.sessions: dict[str, IdpSession] = {}
        self.pending: dict[str, AuthRequest] = {}
        self.codes: dict[str, Grant] = {}
        self.access: dict[str, AccessToken] = {}

    # --- signing in ------------------------------------------------------------------------------------
    def check_password(self, email: str, password: str) -> StaffMember | None:
        """Same work whether or not the address exists, so timing does not tell which field was wrong."""
        member = self._by_email.get(email.strip().lower())
        stored = self._password_hash[member.sub] if member else _hash("\0 no such user")
        given = password.encode()
        matches = len(given) <= 72 and bcrypt.checkpw(given[:72], stored)
        return member if matches and member else None

    def start_session(self, member: StaffMember) -> IdpSession:
        now = self.clock()
        session = IdpSession(secrets.token_urlsafe(32), secrets.token_hex(16), member.sub, int(now),
                             now + self.settings.session_hours * 3600)
        self.sessions[session.id] = session
        return session

    def session(self, cookie: str | None) -> IdpSession | None:
        session = self.sessions.get(cookie or "")
        if session is not None and self.clock() >= session.expires_at:
            self.end_session(session.id)
            return None
        return session

    def end_session(self, cookie: str | None) -> IdpSession | None:
        """Forget the browser's sign-in and every access token issued under it."""
        session = self.sessions.pop(cookie or "", None)
        if session is not None:
            for token in [t for t, a in self.access.items() if a.sid == session.sid]:
                del self.access[token]
        return session

    # --- authorize requests waiting for the password -----------------------------------------------------
    def hold(self, request: AuthRequest) -> str:
        self._sweep()
        txn = secrets.token_urlsafe(24)
        self.pending[txn] = request
        return txn

    def waiting(self, txn: str) -> AuthRequest | None:
        request = self.pending.get(txn)
        if request is not None and self.clock() - request.created_at > PENDING_SECONDS:
            del self.pending[txn]
            return None
        return request

    # --- codes and tokens ---------------------------------------------------------------------------------
    def issue_code(self, request: AuthRequest, session: IdpSession) -> str:
        self._sweep()
        code = secrets.token_urlsafe(32)
        self.codes[code] = Grant(request, session.sub, session.sid, session.auth_time,
                                 self.clock() + self.settings.code_seconds)
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str | None, verifier: str | None) -> Grant | None:
        """The grant, once: any second use fails and revokes the tokens the first use produced (RFC 6749 §4.1.2)."""
        grant = self.codes.get(code)
        if grant is None:
            return None
        if grant.used:
            for token in grant.access_tokens:
                self.access.pop(token, None)
            return None
        grant.used = True
        request = grant.request
        if (self.clock() >= grant.expires_at or client_id != request.client_id
                or redirect_uri != request.redirect_uri or grant.sub not in self.staff or not verifier
                or not hmac.compare_digest(s256(verifier), request.code_challenge)):
            return None
        return grant

    def issue_access_token(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(32)
        self.access[token] = AccessToken(grant.sub, grant.sid, grant.request.scopes,
                                         self.clock() + self.settings.access_token_seconds)
        grant.access_tokens.append(token)
        return token

    def access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found is not None and self.clock() >= found.expires_at:
            del self.access[token]
            return None
        return found

    def _sweep(self) -> None:
        """Drop expired codes and abandoned sign-ins so a long-running sandbox does not grow."""
        now = self.clock()
        for code in [c for c, g in self.codes.items() if now >= g.expires_at + 3600]:
            del self.codes[code]
        for txn in [t for t, r in self.pending.items() if now - r.created_at > PENDING_SECONDS]:
            del self.pending[txn]

