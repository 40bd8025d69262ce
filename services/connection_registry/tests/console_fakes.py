"""Hand-written fakes of the console's ports: the staff identity provider, the staff store, the notifier."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID

from connection_registry.domain.staff import StaffSession
from connection_registry.ports import (AuditEntry, NoticeLine, NoticeSummary, NotifierUnavailable, ParkedPage,
                                       PendingSignIn, SignInFailed)

ALICE = {"sub": "u-alice", "email": "alice.agent@helpdesk.test", "email_verified": True, "name": "Alice Agent",
         "roles": ["helpdesk-agent"], "iss": "http://staff-idp.test"}
LENA = {"sub": "u-lena", "email": "lena.lead@helpdesk.test", "email_verified": True, "name": "Lena Lead",
        "roles": ["helpdesk-lead"], "iss": "http://staff-idp.test"}
SAM = {"sub": "u-sam", "email": "sam.sales@cloudpos.test", "email_verified": True, "name": "Sam Sales",
       "roles": ["sales"], "iss": "http://staff-idp.test"}


class FakeIdentityProvider:
    """Issues one code per authorize URL for whoever `next_user` is; checks the PKCE verifier and the nonce."""

    def __init__(self) -> None:
        self.next_user: dict[str, object] = ALICE
        self.codes: dict[str, tuple[dict[str, object], str, str]] = {}
        self.failure: str | None = None

    async def authorize_url(self, state: str, nonce: str, code_challenge: str) -> str:
        if self.failure == "unavailable":
            raise SignInFailed("unavailable")
        code = f"code-{len(self.codes) + 1}"
        self.codes[code] = (dict(self.next_user), nonce, code_challenge)
        return "http://staff-idp.test/authorize?" + urlencode({"state": state, "code": code})

    async def identify(self, code: str, code_verifier: str, nonce: str, now: datetime) -> dict[str, object]:
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        if self.failure:
            raise SignInFailed(self.failure)
        claims, expected_nonce, challenge = self.codes.pop(code, ({}, "", ""))
        if not claims or create_s256_code_challenge(code_verifier) != challenge:
            raise SignInFailed("refused")
        if nonce != expected_nonce:
            raise SignInFailed("invalid_token")
        return claims

    async def logout_url(self) -> str | None:
        return "http://staff-idp.test/end_session?client_id=helpdesk-console"

    @staticmethod
    def callback_query(authorize_url: str) -> dict[str, str]:
        """What the provider would send back to the console's callback after the staff member signs in."""
        query = parse_qs(urlsplit(authorize_url).query)
        return {"state": query["state"][0], "code": query["code"][0]}


class FakeStaffStore:
    def __init__(self) -> None:
        self.sign_ins: dict[bytes, PendingSignIn] = {}
        self.sessions: dict[bytes, StaffSession] = {}
        self.ended: dict[UUID, tuple[datetime, str, str]] = {}
        self.audit_rows: list[AuditEntry] = []

    async def begin_sign_in(self, state_hash: bytes, pending: PendingSignIn) -> None:
        self.sign_ins[state_hash] = pending

    async def take_sign_in(self, state_hash: bytes, started_after: datetime) -> PendingSignIn | None:
        pending = self.sign_ins.pop(state_hash, None)
        return pending if pending and pending.started_at >= started_after else None

    async def open_session(self, session: StaffSession, token_hash: bytes) -> None:
        self.sessions[token_hash] = replace(session, csrf="")

    async def session(self, token_hash: bytes, now: datetime, idle_since: datetime) -> StaffSession | None:
        found = self.sessions.get(token_hash)
        if not found or found.session_id in self.ended or found.expires_at <= now or found.last_seen_at < idle_since:
            return None
        self.sessions[token_hash] = replace(found, last_seen_at=now)
        return self.sessions[token_hash]

    async def end_session(self, session_id: UUID, at: datetime, by: str, reason: str) -> bool:
        if session_id in self.ended or session_id not in {s.session_id for s in self.sessions.values()}:
            return False
        self.ended[session_id] = (at, by, reason)
        return True

    async def open_sessions(self, now: datetime, idle_since: datetime, limit: int) -> list[StaffSession]:
        found = [s for s in self.sessions.values()
                 if s.session_id not in self.ended and s.expires_at > now and s.last_seen_at >= idle_since]
        return sorted(found, key=lambda s: s.last_seen_at, reverse=True)[:limit]

    async def audit(self, entry: AuditEntry) -> None:
        self.audit_rows.append(entry)

    async def recent_audit(self, limit: int, merchant_id: str | None = None) -> list[AuditEntry]:
        rows = [a for a in reversed(self.audit_rows) if merchant_id is None or a.merchant_id == merchant_id]
        return rows[:limit]


class FakeNotifications:
    def __init__(self) -> None:
        self.lines: list[NoticeLine] = []
        self.summaries_by_merchant: dict[str, NoticeSummary] = {}
        self.down = False
        self.redriven: list[UUID] = []

    def _answer(self) -> None:
        if self.down:
            raise NotifierUnavailable("the notifier is down (fake)")

    async def summaries(self, merchant_ids: Sequence[str]) -> dict[str, NoticeSummary]:
        self._answer()
        return {m: self.summaries_by_merchant[m] for m in merchant_ids if m in self.summaries_by_merchant}

    async def sent_to(self, merchant_id: str, limit: int) -> list[NoticeLine]:
        self._answer()
        mine = [n for n in self.lines if n.merchant_id == merchant_id]
        return sorted(mine, key=lambda n: n.created_at, reverse=True)[:limit]

    async def parked(self, limit: int, offset: int) -> ParkedPage:
        self._answer()
        parked = sorted((n for n in self.lines if n.status == "parked"), key=lambda n: n.parked_at or n.created_at)
        return ParkedPage(parked[offset:offset + limit], len(parked))

    async def redrive(self, delivery_id: UUID) -> bool:
        self._answer()
        for i, line in enumerate(self.lines):
            if line.delivery_id == delivery_id and line.status == "parked":
                self.lines[i] = replace(line, status="pending", parked_at=None)
                self.redriven.append(delivery_id)
                return True
        return False


def http_over_fakes(handlers, reads, clock=None):  # noqa: ANN001, ANN201 - a FastAPI app for tests
    """The registry's HTTP side (API and console) over fakes, for tests that do not sign staff in."""
    from connection_registry.main import build_http

    from .fakes import SETTINGS, StepClock
    return build_http(handlers, reads, SETTINGS, provider=FakeIdentityProvider(), staff=FakeStaffStore(),
                      notifications=FakeNotifications(), clock=clock or StepClock())
