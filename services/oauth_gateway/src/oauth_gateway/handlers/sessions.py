"""Sign-in with Cloud POS details, the session's life, and validating the Cloud POS API key."""

import hashlib
import logging
import secrets

from ..domain.model import WebSession
from ..domain.problems import Problem
from ..ports import ServiceRefusal, ServiceUnavailable
from .common import Deps, refused

log = logging.getLogger(__name__)
_TOUCH_EVERY_SECONDS = 30


def session_hash(session_id: str) -> bytes:
    """Only a hash of the cookie value is stored: a database dump does not hand out live sessions."""
    return hashlib.sha256(session_id.encode()).digest()


class SessionHandlers:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def sign_in(self, username: str, password: str, previous_id: str | None) -> tuple[str, WebSession]:
        """A new random session id every sign-in (fixation defence); the previous session ends."""
        if not username.strip() or not password:
            raise Problem(400, "missing_details", "Please enter your details",
                          "Enter the email address and password you use for Cloud POS.")
        try:
            who = await self._deps.cloudpos.sign_in(username.strip(), password)
        except ServiceRefusal as refusal:
            raise Problem(401 if refusal.status == 401 else 403, refusal.code, "We could not sign you in",
                          refusal.message, "/", "Try again") from None
        except ServiceUnavailable:
            raise Problem(503, "cloudpos_unavailable", "Cloud POS is not responding",
                          "We could not check your details with Cloud POS just now. Please try again shortly.",
                          "/", "Try again") from None
        session_id = secrets.token_urlsafe(32)
        now = self._deps.clock()
        session = WebSession(session_hash(session_id), who.user_id, who.merchant_id, who.merchant_name,
                             who.display_name, now, now)
        async with self._deps.unit_of_work() as tx:
            if previous_id:
                await tx.drop_session(session_hash(previous_id))
            await tx.add_session(session)
            await tx.audit(now, who.user_id, "signed_in", who.merchant_id)
        return session_id, session

    async def current(self, session_id: str | None) -> WebSession | None:
        """The live session behind a cookie, or None (unknown, idle too long, or too old)."""
        if not session_id:
            return None
        now = self._deps.clock()
        async with self._deps.unit_of_work() as tx:
            session = await tx.session(session_hash(session_id))
            if session is None:
                return None
            if session.expired(now, self._deps.session_idle, self._deps.session_absolute):
                await tx.drop_session(session.session_hash)
                return None
            if (now - session.last_seen_at).total_seconds() > _TOUCH_EVERY_SECONDS:
                await tx.touch_session(session.session_hash, now)
        return session

    async def sign_out(self, session: WebSession) -> None:
        async with self._deps.unit_of_work() as tx:
            await tx.drop_session(session.session_hash)
            await tx.audit(self._deps.clock(), session.user_id, "signed_out", session.merchant_id)

    async def take_flash(self, session: WebSession) -> str | None:
        async with self._deps.unit_of_work() as tx:
            return await tx.take_flash(session.session_hash)

    async def validate_key(self, session: WebSession, api_key: str, client_address: str) -> int:
        """Ask key_validator; on success this session may connect the stores the key lists."""
        api_key = api_key.strip()
        if not api_key:
            raise Problem(400, "missing_key", "Please paste your Cloud POS API Key",
                          "Copy the key labelled Xero API Client from the Back Office and paste it in.")
        try:
            result = await self._deps.key_validator.validate(session.merchant_id, session.user_id, api_key,
                                                             client_address)
        except ServiceRefusal as refusal:
            problem = Problem(refusal.status if 400 <= refusal.status < 500 else 400, refusal.code,
                              "Your Cloud POS API Key was not accepted", refusal.message)
            if refusal.code == "key_of_other_merchant":   # never the key itself: key_validator keeps its record
                raise await refused(self._deps, session, "api_key", "", problem) from None
            raise problem from None
        except ServiceUnavailable:
            raise Problem(503, "key_validator_unavailable", "We could not check your key just now",
                          "Please try again in a moment. Your key was not stored.") from None
        if result.merchant_id != session.merchant_id:
            raise await refused(self._deps, session, "api_key", "", Problem(
                403, "key_of_other_merchant", "Your Cloud POS API Key was not accepted",
                "This API key belongs to a different Cloud POS account."))
        async with self._deps.unit_of_work() as tx:
            await tx.set_session_stores(session.session_hash, result.stores, result.key_label)
            await tx.audit(self._deps.clock(), session.user_id, "key_validated", session.merchant_id,
                           stores=len(result.stores))
        return len(result.stores)
