"""Sign-in with Cloud POS details, the session's life, and validating the Cloud POS API key."""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from ..domain import refusals
from ..domain.model import WebSession
from ..domain.refusals import Refusal
from ..domain.signin import Accounts
from ..ports import (
    Clock,
    CloudPos,
    KeyValidator,
    ServiceRefusal,
    ServiceUnavailable,
    SessionWork,
    SignInBudget,
    SignInTicket,
    UnitOfWork,
)
from ..ports import SignedIn as CloudPosUser  # who Cloud POS says signed in
from .refusals_log import RefusalLog

log = logging.getLogger(__name__)
_TOUCH_EVERY_SECONDS = 30
_MAX_USERNAME, _MAX_PASSWORD = 320, 1024        # Cloud POS's own limits (docs/cloudpos-api.md)


def session_hash(session_id: str) -> bytes:
    """Only a hash of the cookie value is stored: a database dump does not hand out live sessions."""
    return hashlib.sha256(session_id.encode()).digest()


@dataclass(frozen=True, slots=True)
class SessionLifetime:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str          # the new cookie value
    session: WebSession
    known_browser: str = ""  # the new value of the cookie that marks the browsers that signed in before


class Sessions:
    def __init__(self, unit_of_work: UnitOfWork[SessionWork], clock: Clock, cloudpos: CloudPos,
                 key_validator: KeyValidator, refusal_log: RefusalLog, lifetime: SessionLifetime,
                 budget: SignInBudget, accounts: Accounts) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._cloudpos = cloudpos
        self._key_validator = key_validator
        self._refusal_log = refusal_log
        self._lifetime = lifetime
        self._budget = budget
        self._accounts = accounts

    async def sign_in(self, username: str, password: str, previous_id: str | None, client_address: str,
                      known_browser: str = "") -> SignedIn | Refusal:
        """A new random session id every sign-in (fixation defence); the previous session ends. Cloud POS is
        asked only within the account's and the address's budgets of failures, so nobody can drive its
        lockout through us; every refusal about the account is the same answer."""
        if not username.strip() or not password or len(username.strip()) > _MAX_USERNAME or \
                len(password) > _MAX_PASSWORD:
            return refusals.missing_details()
        account = self._accounts.key(username)
        ticket = await self._budget.take(account, client_address,
                                         known_browser=self._accounts.known(known_browser, account))
        if ticket.refused_by is not None:
            return await self._refused(account, client_address, f"throttled_{ticket.refused_by}", ticket)
        try:
            who = await self._cloudpos.sign_in(username.strip(), password)
        except ServiceRefusal as refusal:
            if refusal.status in (422, 429):      # Cloud POS did not judge the password: not a failure
                await self._budget.not_counted(ticket)
                return refusals.missing_details() if refusal.status == 422 else refusals.cloudpos_unavailable()
            return await self._refused(account, client_address, refusal.code[:40], ticket)
        except ServiceUnavailable:
            await self._budget.not_counted(ticket)
            return refusals.cloudpos_unavailable()
        await self._budget.succeeded(account, ticket)
        return SignedIn(*await self._start(who, previous_id), self._accounts.remember(known_browser, account))

    async def _start(self, who: CloudPosUser, previous_id: str | None) -> tuple[str, WebSession]:
        session_id, now = secrets.token_urlsafe(32), self._clock()
        session = WebSession(session_hash(session_id), who.user_id, who.merchant_id, who.merchant_name,
                             who.display_name, now, now)
        async with self._unit_of_work() as tx:
            if previous_id:
                await tx.sessions.drop(session_hash(previous_id))
            await tx.sessions.add(session)
            await tx.audit.record(now, who.user_id, "signed_in", who.merchant_id)
        return session_id, session

    async def _refused(self, account: str, client_address: str, reason: str, ticket: SignInTicket) -> Refusal:
        """Audited with the account's keyed hash, never the username or the password. Only a spent address
        budget gets its own answer (it says nothing about the account)."""
        async with self._unit_of_work() as tx:
            await tx.audit.record(self._clock(), "anonymous", "sign_in.refused", None, account=account[:32],
                                  reason=reason, client=client_address)
        log.info("sign-in refused: account %s from %s: %s", account[:12], client_address, reason)
        if ticket.refused_by == "address":
            return refusals.sign_in_throttled(ticket.retry_after)
        return refusals.sign_in_refused()

    async def current(self, session_id: str | None) -> WebSession | None:
        """The live session behind a cookie, or None (unknown, idle too long, or too old)."""
        if not session_id:
            return None
        now = self._clock()
        async with self._unit_of_work() as tx:
            session = await tx.sessions.get(session_hash(session_id))
            if session is None:
                return None
            if session.expired(now, self._lifetime.idle, self._lifetime.absolute):
                await tx.sessions.drop(session.session_hash)
                return None
            if (now - session.last_seen_at).total_seconds() > _TOUCH_EVERY_SECONDS:
                await tx.sessions.touch(session.session_hash, now)
        return session

    async def sign_out(self, session: WebSession) -> None:
        async with self._unit_of_work() as tx:
            await tx.sessions.drop(session.session_hash)
            await tx.audit.record(self._clock(), session.user_id, "signed_out", session.merchant_id)

    async def take_flash(self, session: WebSession) -> str | None:
        async with self._unit_of_work() as tx:
            return await tx.sessions.take_flash(session.session_hash)

    async def validate_key(self, session: WebSession, api_key: str, client_address: str) -> int | Refusal:
        """Ask key_validator; on success this session may connect the stores the key lists."""
        api_key = api_key.strip()
        if not api_key:
            return refusals.missing_key()
        try:
            result = await self._key_validator.validate(session.merchant_id, session.user_id, api_key,
                                                        client_address)
        except ServiceRefusal as refusal:
            refused = refusals.key_refused(refusal.status, refusal.code, refusal.message)
            if refusal.code == "key_of_other_merchant":   # never the key itself: key_validator keeps its record
                return await self._refusal_log.refused(session, "api_key", "", refused)
            return refused
        except ServiceUnavailable:
            return refusals.key_validator_unavailable()
        if result.merchant_id != session.merchant_id:
            return await self._refusal_log.refused(session, "api_key", "", refusals.key_of_other_merchant())
        async with self._unit_of_work() as tx:
            await tx.sessions.set_stores(session.session_hash, result.stores, result.key_label)
            await tx.audit.record(self._clock(), session.user_id, "key_validated", session.merchant_id,
                                  stores=len(result.stores))
        return len(result.stores)
