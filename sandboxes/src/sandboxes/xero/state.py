"""In-memory domain of the Xero sandbox: users, orgs, sessions, codes, refresh-token chains, connections,
plus each org's accounting books and the stored Idempotency-Key answers (all cleared by reset).

No HTTP here, so the rules (single-use codes, rotation with grace, idle expiry) read in one place.
Connections and refresh tokens are also indexed by owner (sub, client id) and users by email, so that a
sandbox seeded with tens of thousands of users answers each call without scanning them all.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import timedelta

import bcrypt

from sandboxes.xero import demo_data
from sandboxes.xero.accounting import Accounting
from sandboxes.xero.clock import Clock
from sandboxes.xero.domain import AuthCode, Connection, Grant, Pending, RefreshToken, Session, s256
from sandboxes.xero.idempotency import IdempotencyStore
from sandboxes.xero.settings import XeroSandboxSettings


class XeroState:
    def __init__(self, clock: Clock, settings: XeroSandboxSettings) -> None:
        self.clock, self.settings = clock, settings
        self.reset()

    def reset(self) -> None:
        self.users: dict[str, dict] = {}
        self._subs_by_email: dict[str, str] = {}
        for user in demo_data.users():
            self.add_user(user)
        self.orgs = {o["OrganisationID"]: o for o in demo_data.organisations()}
        self.sessions: dict[str, Session] = {}
        self.pending: dict[str, Pending] = {}
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self._tokens_by_owner: dict[tuple[str, str], list[str]] = {}
        self.connections: dict[str, Connection] = {}
        self._connections_by_owner: dict[tuple[str, str], dict[str, Connection]] = {}
        self.retired_connections: dict[str, Connection] = {}
        self.consented: dict[tuple[str, str], list[str]] = {}
        self.accounting = Accounting()
        self.idempotency = IdempotencyStore(self.clock, self.settings.idempotency_key_seconds)

    def add_user(self, user: dict) -> None:
        """A Xero user (demo data or a seeded one); the email is unique, case-insensitively."""
        self.users[user["sub"]] = user
        self._subs_by_email[user["email"].lower()] = user["sub"]

    # --- login and consent -------------------------------------------------------------------------------
    def login(self, email: str, password: str) -> Session | None:
        sub = self._subs_by_email.get(email.strip().lower())
        user = self.users.get(sub) if sub else None
        if user is None or not bcrypt.checkpw(password.encode(), user["password_hash"]):
            return None
        session = Session(id=secrets.token_urlsafe(32), sub=user["sub"], auth_time=self.clock.now())
        self.sessions[session.id] = session
        return session

    def user_orgs(self, sub: str) -> list[dict]:
        return [self.orgs[t] for t in self.users[sub]["tenant_ids"]
                if t in self.orgs and self.orgs[t]["OrganisationStatus"] == "ACTIVE"]

    def add_pending(self, **fields) -> Pending:
        pending = Pending(id=secrets.token_urlsafe(24), created_at=self.clock.now(), **fields)
        self.pending[pending.id] = pending
        return pending

    def connect(self, sub: str, client_id: str, tenant_ids: list[str]) -> str:
        """Allow access: all chosen orgs share one new authEventId; re-connected orgs keep their id."""
        event_id, now = str(uuid.uuid4()), self.clock.now()
        for tenant_id in tenant_ids:
            existing = self.find_connection(sub, client_id, tenant_id)
            if existing:
                existing.auth_event_id, existing.updated_at = event_id, now
            else:
                conn = Connection(str(uuid.uuid4()), sub, client_id, tenant_id, event_id, now, now)
                self.connections[conn.id] = conn
                self._connections_by_owner.setdefault((sub, client_id), {})[conn.id] = conn
        return event_id

    def grant_scopes(self, sub: str, client_id: str, scopes: list[str]) -> list[str]:
        """Scopes are additive across consents until the grant is revoked."""
        merged = list(dict.fromkeys(self.consented.get((sub, client_id), []) + scopes))
        self.consented[(sub, client_id)] = merged
        return merged

    # --- codes ---------------------------------------------------------------------------------------------
    def issue_code(self, grant: Grant, redirect_uri: str, code_challenge: str | None) -> str:
        code = secrets.token_urlsafe(32)  # mixed case: lower-casing it must fail
        self.codes[code] = AuthCode(code, grant, redirect_uri, code_challenge, self.clock.now())
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str | None,
                    verifier: str | None) -> Grant | None:
        """Any attempt consumes the code (single use), even one that then fails a check."""
        entry = self.codes.pop(code, None)
        if entry is None or entry.grant.client_id != client_id or entry.redirect_uri != redirect_uri:
            return None
        if self.clock.now() - entry.issued_at > timedelta(seconds=self.settings.code_seconds):
            return None
        if entry.code_challenge is not None:
            if not verifier or not 43 <= len(verifier) <= 128:
                return None
            if not hmac.compare_digest(s256(verifier), entry.code_challenge):
                return None
        return entry.grant

    # --- refresh tokens --------------------------------------------------------------------------------------
    def issue_refresh(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(32)
        self.refresh_tokens[token] = RefreshToken(token, grant, self.clock.now())
        self._tokens_by_owner.setdefault((grant.sub, grant.client_id), []).append(token)
        return token

    def refresh_usable(self, entry: RefreshToken | None, client_id: str) -> bool:
        now, s = self.clock.now(), self.settings
        if entry is None or entry.revoked or entry.grant.client_id != client_id:
            return False
        if now - entry.issued_at > timedelta(days=s.refresh_idle_days):
            return False
        if entry.rotated_at and now - entry.rotated_at > timedelta(seconds=s.refresh_grace_seconds):
            return False
        if s.refresh_requires_connection and not self.connections_for(entry.grant.sub, client_id):
            return False
        return True

    def rotate(self, token: str, client_id: str) -> tuple[Grant, str] | None:
        """Returns the grant and a new refresh token; the old one keeps working for the grace period."""
        entry = self.refresh_tokens.get(token)
        if not self.refresh_usable(entry, client_id):
            return None
        if entry.successor and self.settings.grace_reuse_revokes_successor:
            self.refresh_tokens[entry.successor].revoked = True
        entry.rotated_at = entry.rotated_at or self.clock.now()
        new = self.issue_refresh(entry.grant)
        entry.successor = new
        return entry.grant, new

    def revoke(self, token: str, client_id: str) -> bool:
        """Revoking a refresh token kills every token and connection this user has with this app."""
        entry = self.refresh_tokens.get(token)
        if entry is None or entry.grant.client_id != client_id:
            return False
        sub = entry.grant.sub
        for other in self._tokens_by_owner.get((sub, client_id), ()):
            self.refresh_tokens[other].revoked = True
        for conn in self.connections_for(sub, client_id):
            self.retire(conn)
        self.consented.pop((sub, client_id), None)
        return True

    # --- connections ---------------------------------------------------------------------------------------
    def connections_for(self, sub: str, client_id: str, auth_event_id: str | None = None) -> list[Connection]:
        found = list(self._connections_by_owner.get((sub, client_id), {}).values())
        if auth_event_id is not None:
            found = [c for c in found if c.auth_event_id.lower() == auth_event_id.strip().lower()]
        return sorted(found, key=lambda c: c.created_at)

    def find_connection(self, sub: str, client_id: str, tenant_id: str) -> Connection | None:
        """The oldest live connection of this user and app to the tenant (a user has a handful at most)."""
        owned = self._connections_by_owner.get((sub, client_id), {}).values()
        return min((c for c in owned if c.tenant_id == tenant_id), key=lambda c: c.created_at, default=None)

    def retire(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)
        owned = self._connections_by_owner.get((conn.sub, conn.client_id))
        if owned is not None:
            owned.pop(conn.id, None)
            if not owned:
                del self._connections_by_owner[(conn.sub, conn.client_id)]
        self.retired_connections[conn.id] = conn

    def delete_connection(self, sub: str, client_id: str, connection_id: str) -> int:
        """204 for own live connection, 404 for unknown or already gone, 403 for ids the token may not touch."""
        key = connection_id.strip().lower()
        conn = self.connections.get(key)
        if conn is not None:
            if conn.sub != sub or conn.client_id != client_id:
                return 403
            self.retire(conn)
            return 204
        gone = self.retired_connections.get(key)
        if gone is not None:
            return 404 if (gone.sub, gone.client_id) == (sub, client_id) else 403
        known = key in self.orgs or any(c.auth_event_id == key for c in self.connections.values())
        return 403 if known else 404

    def remove_tenant(self, tenant_id: str, client_id: str | None = None) -> int:
        """The user removed the app inside Xero (or the org vanished): drop that tenant's connections."""
        doomed = [c for c in self.connections.values()
                  if c.tenant_id == tenant_id and (client_id is None or c.client_id == client_id)]
        for conn in doomed:
            self.retire(conn)
        return len(doomed)
