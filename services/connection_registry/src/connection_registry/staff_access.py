"""Staff sign-in through the company's OpenID Connect provider, and server-side sessions.

Sign-in: code flow with PKCE (S256) and a nonce; the `state` goes both to the provider and into a cookie of
the browser that started, so a callback carried to another browser is refused (login CSRF). The session is a
random token in an HttpOnly cookie; the server keeps only its SHA-256, ends it on sign-out, when a lead ends
it, after `SessionRules.idle` without a page view, or `lifetime` after sign-in. The CSRF token of the forms is
derived from the browser's token, so it changes with every session and is never stored.
"""

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID, uuid4

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from .domain import Refusal
from .domain.staff import Permission, RoleNames, SessionRules, StaffMember, StaffSession, staff_member
from .ports import AuditEntry, Clock, PendingSignIn, SignInFailed, StaffIdentityProvider, StaffStore

log = logging.getLogger(__name__)
SIGN_IN_REFUSALS = {
    "expired": "That sign-in took too long or was started in another browser. Please sign in again.",
    "provider_said_no": "The staff identity provider did not sign you in.",
    "unavailable": "The staff identity provider is not answering. Please try again in a minute.",
    "refused": "The staff identity provider refused the sign-in. Please sign in again.",
    "invalid_token": "The staff identity provider's answer could not be verified. Please sign in again.",
}


@dataclass(frozen=True, slots=True)
class SignInStart:
    state: str            # for the browser's cookie
    url: str              # the provider's authorize URL


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str            # for the browser's session cookie; only its hash is kept
    session: StaffSession


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def csrf_for(token: str) -> str:
    return hashlib.sha256(b"connection_registry/console-csrf|" + token.encode()).hexdigest()


class StaffAccess:
    def __init__(self, provider: StaffIdentityProvider, store: StaffStore, *, names: RoleNames, rules: SessionRules,
                 clock: Clock, new_token: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> None:
        self._provider = provider
        self._store = store
        self._names = names
        self._rules = rules
        self._clock = clock
        self._new_token = new_token

    async def begin(self) -> SignInStart:
        """Raises SignInFailed("unavailable") when the provider's discovery document cannot be read."""
        state, nonce, verifier = self._new_token(), self._new_token(), self._new_token() + self._new_token()
        url = await self._provider.authorize_url(state, nonce, create_s256_code_challenge(verifier))
        await self._store.begin_sign_in(_hash(state), PendingSignIn(nonce, verifier, self._clock()))
        return SignInStart(state, url)

    async def finish(self, browser_state: str | None, state: str, code: str | None,
                     error: str | None) -> SignedIn | Refusal:
        if not browser_state or not hmac.compare_digest(browser_state.encode(), state.encode()):
            return Refusal("expired", SIGN_IN_REFUSALS["expired"])
        now = self._clock()
        pending = await self._store.take_sign_in(_hash(state), now - self._rules.sign_in_within)
        if pending is None:
            return Refusal("expired", SIGN_IN_REFUSALS["expired"])
        if error or not code:
            return Refusal("provider_said_no", SIGN_IN_REFUSALS["provider_said_no"])
        try:
            claims = await self._provider.identify(code, pending.code_verifier, pending.nonce, now)
        except SignInFailed as failed:
            log.warning("staff sign-in failed: %s", failed.reason)
            return Refusal(failed.reason, SIGN_IN_REFUSALS[failed.reason])
        member = staff_member(claims, self._names)
        if isinstance(member, Refusal):
            await self._store.audit(AuditEntry(now, str(claims.get("email") or claims.get("sub"))[:200],
                                               str(claims.get("sub")), "none", "sign_in", member.code))
            return member
        return await self._open(member)

    async def _open(self, member: StaffMember) -> SignedIn:
        now, token = self._clock(), self._new_token()
        session = StaffSession(uuid4(), member, now, now, self._rules.expires_at(now), csrf_for(token))
        await self._store.open_session(session, _hash(token))
        await self.record(session, "sign_in", "done")
        log.info("staff %s signed in as %s (session %s)", member.actor, member.role, session.session_id)
        return SignedIn(token, session)

    async def session(self, token: str | None) -> StaffSession | None:
        """The open session this browser token belongs to (seen now), with the forms' CSRF token."""
        if not token or len(token) > 200:
            return None
        now = self._clock()
        found = await self._store.session(_hash(token), now, self._rules.idle_since(now))
        if found is None:
            return None
        return StaffSession(found.session_id, found.member, found.started_at, found.last_seen_at, found.expires_at,
                            csrf_for(token))

    async def sign_out(self, session: StaffSession) -> str | None:
        """End the session; where to send the browser to end the provider's session too (None: nowhere)."""
        await self._store.end_session(session.session_id, self._clock(), session.member.actor, "signed_out")
        await self.record(session, "sign_out", "done")
        try:
            return await self._provider.logout_url()
        except SignInFailed:
            return None

    async def end(self, lead: StaffSession, session_id: UUID) -> Refusal | None:
        """A lead ends someone's session (their next page asks them to sign in again)."""
        if not lead.member.may(Permission.END_SESSIONS):
            await self.record(lead, "end_session", "forbidden", target=str(session_id))
            return Refusal("forbidden", "Only a helpdesk lead can end other people's sessions.")
        ended = await self._store.end_session(session_id, self._clock(), lead.member.actor, "ended_by_lead")
        await self.record(lead, "end_session", "done" if ended else "already_ended", target=str(session_id))
        return None if ended else Refusal("already_ended", "That session had already ended.")

    async def open_sessions(self, limit: int = 200) -> list[StaffSession]:
        now = self._clock()
        return await self._store.open_sessions(now, self._rules.idle_since(now), limit)

    async def recent_audit(self, limit: int = 50, merchant_id: str | None = None) -> list[AuditEntry]:
        return await self._store.recent_audit(limit, merchant_id)

    async def record(self, session: StaffSession, action: str, outcome: str, *, merchant_id: str | None = None,
                     target: str | None = None) -> None:
        member = session.member
        await self._store.audit(AuditEntry(self._clock(), member.actor, member.subject, member.role.value, action,
                                           outcome, session.session_id, merchant_id, target))
