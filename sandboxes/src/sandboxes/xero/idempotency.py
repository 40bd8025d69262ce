"""Xero's `Idempotency-Key` header on POST, PUT and PATCH (developer.xero.com, "Idempotent requests").

What Xero documents, and this store does:
- the same key (per app and tenant) with the same request (method, URL and body) answers with the first
  call's stored status and body, without doing anything again; errors are stored and replayed too;
- a repeat that arrives while the first is still running waits for it and gets its answer;
- the same key with a different request is refused with 400. Xero's body for that is not documented; the
  sandbox sends a ValidationException-shaped body whose Message is the wording integrators report
  ("Idempotency Key: <key> is used with a different request.");
- keys are kept for 6 minutes from the first call (`idempotency_key_seconds`), then forgotten: a later
  repeat is processed as new. (Not 24 hours: a poster must not lean on the key for longer retries.);
- at most 128 characters (a longer key gets a 400, body undocumented: same shape as above);
- limits are checked before idempotency, so a replay still counts as a call.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

from sandboxes.xero.clock import Clock

MAX_KEY_LENGTH = 128
WRITE_METHODS = ("POST", "PUT", "PATCH")


@dataclass
class StoredAnswer:
    fingerprint: str
    first_at: float
    done: asyncio.Event = field(default_factory=asyncio.Event)
    status: int = 0
    body: bytes = b""
    media_type: str | None = None


class IdempotencyStore:
    def __init__(self, clock: Clock, keep_seconds: float) -> None:
        self.clock, self.keep_seconds = clock, keep_seconds
        self.entries: dict[tuple[str, str, str], StoredAnswer] = {}

    @staticmethod
    def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
        digest = hashlib.sha256()
        for part in (method.upper().encode(), path.lower().encode(), query.encode(), body):
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    def claim(self, scope: tuple[str, str, str], fingerprint: str) -> tuple[str, StoredAnswer]:
        """("new", entry) to run and then finish(); ("replay", entry) to wait for it; ("conflict", entry)."""
        self._forget_expired()
        entry = self.entries.get(scope)
        if entry is None:
            entry = StoredAnswer(fingerprint, self.clock.timestamp())
            self.entries[scope] = entry
            return "new", entry
        return ("replay" if entry.fingerprint == fingerprint else "conflict"), entry

    @staticmethod
    def finish(entry: StoredAnswer, status: int, body: bytes, media_type: str | None) -> None:
        entry.status, entry.body, entry.media_type = status, body, media_type
        entry.done.set()

    def _forget_expired(self) -> None:
        now = self.clock.timestamp()
        for scope in [s for s, e in self.entries.items() if e.done.is_set() and now - e.first_at >= self.keep_seconds]:
            del self.entries[scope]
