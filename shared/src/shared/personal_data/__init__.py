"""Personal data in events, protected under a key per merchant, so that destroying the key (`forget`) makes
every copy on every topic unreadable: crypto-shredding (docs/personal-data.md). Topics keep records for ever
and cannot be edited; a key can be destroyed.

The contracts mark the personal fields (`shared.contracts.personal`). The outbox relay seals a record's marked
fields just before it publishes it (the producer's own outbox rows stay as written), and the delivery consumer
opens them after fetching, so every handler still sees names and emails; pseudonyms stay pseudonyms. Once the
key is gone a sealed value reads as `ERASED` and the event is still applied.

Sealing and opening are local crypto (AES-256-GCM, HMAC-SHA-256) under key material fetched from the key store
(`MerchantKeys`, e.g. Vault's Transit engine: `shared.personal_data.vault`) and cached for `cache_seconds`, so a
batch costs one key-store round trip per merchant not yet cached, never one per event.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..contracts import event_types
from ..contracts.personal import ANY_ITEM, NOT_PERSONS, Kind, personal_fields

log = logging.getLogger(__name__)
ERASED = ""                 # what a sealed value reads as once its merchant's key is destroyed
SEALED = "pd1."             # version 1: AES-256-GCM, 96-bit random nonce, AAD = merchant id + field path
PSEUDONYM = "pn1."          # version 1: HMAC-SHA-256 truncated to 144 bits
_NONCE, _TAG = 12, 16
_PSEUDONYM_LENGTH = len(PSEUDONYM) + 24
_CONCURRENCY = 16           # key-store calls in flight at once for one batch


@dataclass(frozen=True, slots=True)
class MerchantKey:
    """One merchant's key material: the AES-256 key that seals (the latest version), the earlier versions that
    still open what they sealed (a key rotated at the key store), and the HMAC key for pseudonyms (always the
    first version's, so a pseudonym never changes)."""

    encryption: bytes = field(repr=False)
    hmac: bytes = field(repr=False)
    older: tuple[bytes, ...] = field(default=(), repr=False)
    aead: AESGCM = field(init=False, repr=False, compare=False)
    openers: tuple[AESGCM, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aead", AESGCM(self.encryption))
        object.__setattr__(self, "openers", (self.aead, *(AESGCM(k) for k in self.older)))


class KeyStoreUnavailable(ConnectionError):
    """The key store did not answer (or refused this service): "not now", so a relay keeps its rows and a
    consumer retries the record (an OSError: `shared.delivery.errors.is_infrastructure`), never plain text."""


class MerchantKeys(Protocol):
    """Where merchants' keys live (a port; Vault Transit in production, its sandbox under `make run`)."""

    async def find(self, merchant_id: str) -> MerchantKey | None: ...

    async def find_or_create(self, merchant_id: str) -> MerchantKey: ...

    async def destroy(self, merchant_id: str) -> None: ...

    async def aclose(self) -> None: ...


# --- pure sealing -------------------------------------------------------------------------------------------

def sealable_bytes(limit: int | None) -> int | None:
    """How many UTF-8 bytes fit in a field of `limit` characters once sealed (prefix + base64url, no padding)."""
    return None if limit is None else (limit - len(SEALED)) * 3 // 4 - _NONCE - _TAG


def seal(key: MerchantKey, merchant_id: str, path: str, value: str, limit: int | None = None) -> str:
    """`value` encrypted for this merchant and field; a value too long to fit the field's limit once sealed is
    truncated first (at a character boundary): the schema every consumer validates against stays as it was."""
    if not value or value.startswith(SEALED):
        return value
    plain = value.encode()
    room = sealable_bytes(limit)
    if room is not None and len(plain) > room:
        plain = plain[:room].decode(errors="ignore").encode()
    nonce = os.urandom(_NONCE)
    sealed = nonce + key.aead.encrypt(nonce, plain, _aad(merchant_id, path))
    return SEALED + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def open_sealed(key: MerchantKey | None, merchant_id: str, path: str, value: str) -> str:
    """The plain value; `ERASED` when the key is gone or the value does not open under it (a key created again
    after an erasure, or a tampered value): never an error, the event is still applied."""
    if not value.startswith(SEALED):
        return value
    if key is None:
        return ERASED
    try:
        raw = base64.urlsafe_b64decode(value[len(SEALED):] + "=" * (-len(value) % 4))
    except ValueError:
        raw = b""
    for aead in key.openers:   # the latest version first; a rotated key's earlier versions after it
        try:
            return aead.decrypt(raw[:_NONCE], raw[_NONCE:], _aad(merchant_id, path)).decode()
        except (InvalidTag, ValueError):
            continue
    log.warning("a sealed %s of merchant %s does not open under its key: read as erased", path, merchant_id)
    return ERASED


def pseudonym(key: MerchantKey, value: str) -> str:
    """A Cloud POS user id replaced by a keyed hash: the same id gives the same pseudonym within a merchant, and
    without the key nobody can tell whose it is. System actors (`NOT_PERSONS`) and pseudonyms stay as they are."""
    if value in NOT_PERSONS or (value.startswith(PSEUDONYM) and len(value) == _PSEUDONYM_LENGTH):
        return value
    digest = hmac.digest(key.hmac, b"cloudpos-user\x00" + value.encode(), hashlib.sha256)[:18]
    return PSEUDONYM + base64.urlsafe_b64encode(digest).decode()


def pseudonym_uuid(key: MerchantKey, value: str) -> str:
    """A user's UUID replaced by a version-8 UUID derived from a keyed hash (a UUID field stays a UUID).
    Idempotent: a version-8 UUID is already a pseudonym (Xero issues version-4 ids)."""
    original = UUID(value)
    if original.version == 8:
        return str(original)
    number = int.from_bytes(hmac.digest(key.hmac, b"xero-user\x00" + original.bytes, hashlib.sha256)[:16], "big")
    number = (number & ~(0xF << 76)) | (8 << 76)            # version 8 (RFC 9562: custom)
    number = (number & ~(0x3 << 62)) | (0x2 << 62)          # the RFC variant
    return str(UUID(int=number))


def _aad(merchant_id: str, path: str) -> bytes:
    return f"{merchant_id}\x00{path}".encode()


def transform(data: dict[str, Any], fields: Iterable[tuple[tuple[str, ...], Kind, int | None]],
              change: Callable[[str, Kind, int | None, str], str]) -> None:
    """Apply `change(path, kind, limit, value)` to every marked string in an event's JSON data, in place."""
    for path, kind, limit in fields:
        _walk(data, path, 0, lambda value, p=path, k=kind, n=limit: change(".".join(p), k, n, value))


def _walk(node: Any, path: tuple[str, ...], at: int, change: Callable[[str], str]) -> None:
    step = path[at]
    if step == ANY_ITEM:
        children = list(enumerate(node)) if isinstance(node, list) else []
    else:
        children = [(step, node[step])] if isinstance(node, dict) and step in node else []
    for name, child in children:
        if at + 1 < len(path):
            _walk(child, path, at + 1, change)
        elif isinstance(child, str):
            node[name] = change(child)


# --- the cache and the record transforms the relay and the consumer use ---------------------------------------

class PersonalData:
    """Seals and opens the personal fields of event records, with merchants' keys cached for `cache_seconds`
    (another instance's `forget` takes effect here within that time; this instance's at once)."""

    def __init__(self, keys: MerchantKeys, *, cache_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, MerchantKey | None]] = {}
        self._fields = {type_: personal_fields(model) for type_, model in event_types().items()}

    def protects(self, event_type: str) -> bool:
        """Whether records of this type carry personal fields (the others pass through untouched)."""
        return bool(self._fields.get(event_type))

    async def prepare(self, merchant_ids: Iterable[str], *, create: bool) -> None:
        """Have these merchants' keys cached: one key-store call for each not cached or expired, up to
        `_CONCURRENCY` at a time (a relay batch of many new merchants); `create`: a producer's, which makes a
        merchant's key on its first event."""
        now = self._clock()
        wanted = [m for m in dict.fromkeys(merchant_ids) if not self._fresh(m, now, create)]
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def fetch(merchant_id: str) -> None:
            async with limit:
                key = await (self._keys.find_or_create(merchant_id) if create else self._keys.find(merchant_id))
            self._cache[merchant_id] = (self._clock() + self._ttl, key)

        if wanted:
            await asyncio.gather(*(fetch(m) for m in wanted))
        if len(self._cache) > 100_000:
            self._cache = {m: entry for m, entry in self._cache.items() if entry[0] > now}

    def _fresh(self, merchant_id: str, now: float, create: bool) -> bool:
        cached = self._cache.get(merchant_id)
        return cached is not None and cached[0] > now and (cached[1] is not None or not create)

    def seal_prepared(self, event_type: str, value: bytes) -> bytes:
        """The record's JSON with its personal fields sealed or pseudonymised; its merchant's key must have
        been `prepare`d with `create`."""
        fields = self._fields.get(event_type)
        if not fields:
            return value
        data = json.loads(value)
        merchant_id = data["merchant_id"]
        cached = self._cache.get(merchant_id)
        if cached is None or cached[1] is None:
            raise KeyStoreUnavailable(f"no key prepared for merchant {merchant_id}")
        key = cached[1]

        def change(path: str, kind: Kind, limit: int | None, plain: str) -> str:
            if kind == "sealed":
                return seal(key, merchant_id, path, plain, limit)
            return pseudonym(key, plain) if kind == "pseudonym" else pseudonym_uuid(key, plain)

        transform(data, fields, change)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    async def seal(self, event_type: str, value: bytes) -> bytes:
        """`seal_prepared` for one record (its key fetched or created if not cached)."""
        if self.protects(event_type):
            await self.prepare([json.loads(value)["merchant_id"]], create=True)
        return self.seal_prepared(event_type, value)

    async def open(self, event_type: str, value: bytes) -> bytes:
        """The record's JSON with its sealed fields opened (`ERASED` once the key is gone). Anything that is
        not a sealed record of a known type is returned as it came, for the decoder to judge."""
        fields = self._fields.get(event_type)
        if not fields or f'"{SEALED}'.encode() not in value:
            return value
        try:
            data = json.loads(value)
            merchant_id = data["merchant_id"]
        except (ValueError, TypeError, KeyError):
            return value
        await self.prepare([merchant_id], create=False)
        key = self._cache[merchant_id][1]
        transform(data, [f for f in fields if f[1] == "sealed"],
                  lambda path, _kind, _limit, sealed: open_sealed(key, merchant_id, path, sealed))
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    async def forget(self, merchant_id: str) -> None:
        """Destroy the merchant's key at the key store: every sealed value of theirs, on every topic, is
        unreadable from then on and their pseudonyms can no longer be linked to them. Idempotent."""
        await self._keys.destroy(merchant_id)
        self._cache[merchant_id] = (self._clock() + self._ttl, None)

    async def aclose(self) -> None:
        await self._keys.aclose()
