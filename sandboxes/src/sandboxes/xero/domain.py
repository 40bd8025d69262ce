"""Records the identity server keeps: browser sessions, pending consents, grants, codes, refresh tokens, connections."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Session:
    id: str
    sub: str
    auth_time: datetime
    global_session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    sid: str = field(default_factory=lambda: secrets.token_hex(16).upper())


@dataclass
class Pending:
    """A validated authorize request waiting for consent; bound to the browser session that saw it."""
    id: str
    session_id: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    created_at: datetime


@dataclass
class Grant:
    """What a code or refresh token carries forward into every token it produces."""
    sub: str
    client_id: str
    scopes: list[str]
    auth_event_id: str
    session: Session
    nonce: str | None = None


@dataclass
class AuthCode:
    code: str
    grant: Grant
    redirect_uri: str
    code_challenge: str | None
    issued_at: datetime


@dataclass
class RefreshToken:
    token: str
    grant: Grant
    issued_at: datetime
    rotated_at: datetime | None = None
    revoked: bool = False
    successor: str | None = None


@dataclass
class Connection:
    id: str
    sub: str
    client_id: str
    tenant_id: str
    auth_event_id: str
    created_at: datetime
    updated_at: datetime


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
