"""In-memory model of a Cloud POS platform: merchants, stores, users and the API-key table."""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import bcrypt

from sandboxes.cloudpos.sales import Line, Sale, sale_id, seeded_day

Clock = Callable[[], datetime]
LICENCES = ("pro_plus", "pro", "standard", "lite")
KEY_PREFIX = "cpk_"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z suffix, second precision, the way the platform prints times."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hash_key(plain: str) -> str:
    """Keys are 240-bit random tokens, so an unsalted SHA-256 is enough to look them up safely."""
    return hashlib.sha256(plain.encode()).hexdigest()


@functools.lru_cache(maxsize=64)
def hash_password(password: str) -> bytes:
    """bcrypt is slow by design; caching keeps resets and per-test sandboxes fast."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt())


@dataclass
class Merchant:
    merchant_id: str
    name: str
    licence: str
    contact_email: str | None = None
    """Where the platform writes to the merchant (e.g. when their Xero connection breaks); None: not on file."""


@dataclass
class Store:
    store_id: str
    merchant_id: str
    name: str
    closed_weekdays: frozenset[int] = field(default_factory=frozenset)
    """`date.weekday()` numbers of the days the store does not trade (its seeded days have no sales)."""


@dataclass
class User:
    user_id: str
    merchant_id: str
    username: str
    display_name: str
    password_hash: bytes
    disabled: bool = False
    failed_logins: int = 0


@dataclass
class ApiKey:
    key_id: str
    key_hash: str
    merchant_id: str
    label: str
    service: str
    created_at: datetime
    revoked_at: datetime | None = None

    def public(self) -> dict:
        """Everything about the key except its secret (and its hash)."""
        return {
            "key_id": self.key_id,
            "label": self.label,
            "service": self.service,
            "merchant_id": self.merchant_id,
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at),
        }


class SignInError(Exception):
    """Why a sign-in failed: 'invalid_credentials', 'account_locked' or 'account_disabled'."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class CloudPosState:
    """Thread-safe store; handlers run both on the event loop and in the thread pool."""

    def __init__(self, clock: Clock = utc_now, lockout_threshold: int = 5):
        self.clock = clock
        self.lockout_threshold = lockout_threshold
        self._lock = threading.RLock()
        self.merchants: dict[str, Merchant] = {}
        self.stores: dict[str, Store] = {}
        self.users: dict[str, User] = {}  # by lower-cased username
        self.keys: dict[str, ApiKey] = {}  # by key_id
        self._by_hash: dict[str, str] = {}
        self.sales: dict[tuple[str, date], list[Sale]] = {}  # days a test changed; the others are seeded

    def clear(self) -> None:
        with self._lock:
            for table in (self.merchants, self.stores, self.users, self.keys, self._by_hash, self.sales):
                table.clear()

    def add_merchant(self, merchant_id: str, name: str, licence: str, contact_email: str | None = None) -> Merchant:
        if licence not in LICENCES:
            raise ValueError(f"unknown licence {licence!r}")
        with self._lock:
            merchant = self.merchants[merchant_id] = Merchant(merchant_id, name, licence, contact_email)
        return merchant

    def add_store(self, store_id: str, merchant_id: str, name: str, closed_weekdays: frozenset[int] = frozenset()
                  ) -> Store:
        with self._lock:
            self._require_merchant(merchant_id)
            store = self.stores[store_id] = Store(store_id, merchant_id, name, closed_weekdays)
        return store

    def add_user(self, user_id: str, merchant_id: str, username: str, display_name: str, password: str,
                 *, disabled: bool = False) -> User:
        user = User(user_id, merchant_id, username.strip().lower(), display_name, hash_password(password), disabled)
        with self._lock:
            self._require_merchant(merchant_id)
            self.users[user.username] = user
        return user

    def add_key(self, key_id: str, plain: str, merchant_id: str, label: str, service: str, *,
                created_at: datetime | None = None, revoked_at: datetime | None = None) -> ApiKey:
        key = ApiKey(key_id, hash_key(plain), merchant_id, label, service, created_at or self.clock(), revoked_at)
        with self._lock:
            self._require_merchant(merchant_id)
            self.keys[key_id] = key
            self._by_hash[key.key_hash] = key_id
        return key

    def issue_key(self, merchant_id: str, label: str, service: str) -> tuple[ApiKey, str]:
        """What support does in the Back Office: a fresh key whose plain value is seen only now."""
        plain = KEY_PREFIX + secrets.token_urlsafe(30)
        return self.add_key("k-" + secrets.token_hex(8), plain, merchant_id, label, service), plain

    def revoke_key(self, key_id: str) -> ApiKey | None:
        """Idempotent: revoking twice keeps the first revocation time."""
        with self._lock:
            key = self.keys.get(key_id)
            if key is not None and key.revoked_at is None:
                key.revoked_at = self.clock()
        return key

    def find_key(self, plain: str) -> ApiKey | None:
        with self._lock:
            key_id = self._by_hash.get(hash_key(plain))
            return None if key_id is None else self.keys[key_id]

    def keys_of(self, merchant_id: str) -> list[ApiKey]:
        with self._lock:
            return sorted((k for k in self.keys.values() if k.merchant_id == merchant_id),
                          key=lambda k: (k.created_at, k.key_id))

    def stores_of(self, merchant_id: str) -> list[Store]:
        with self._lock:
            return [s for s in self.stores.values() if s.merchant_id == merchant_id]

    # --- sales -----------------------------------------------------------------------------------------------
    def sales_of(self, store_id: str, day: date) -> list[Sale]:
        """The store's sales that day: the seeded ones, unless a test changed the day."""
        with self._lock:
            return list(self._day(store_id, day))

    def add_sale(self, store_id: str, day: date, payment_method: str, time: str, lines: tuple[Line, ...]) -> Sale:
        """Append a sale to the day (after its seeded sales)."""
        with self._lock:
            sales = self.sales[(store_id, day)] = self._day(store_id, day)
            sale = Sale(sale_id(store_id, day, len(sales) + 1), time, payment_method, lines)
            sales.append(sale)
        return sale

    def clear_sales(self, store_id: str, day: date) -> None:
        """The store sold nothing that day (until a test adds sales again)."""
        with self._lock:
            self.sales[(store_id, day)] = []

    def _day(self, store_id: str, day: date) -> list[Sale]:
        if (store_id, day) in self.sales:
            return list(self.sales[(store_id, day)])
        return seeded_day(store_id, day, self.stores[store_id].closed_weekdays)

    def sign_in(self, username: str, password: str) -> User:
        """Checks the password even for unknown users so timing does not reveal who exists."""
        with self._lock:
            user = self.users.get(username.strip().lower())
        stored = user.password_hash if user else hash_password("no such user")
        given = password.encode()
        # bcrypt only reads 72 bytes (and bcrypt>=5 refuses more): longer passwords never match.
        matches = bcrypt.checkpw(given[:72], stored) and len(given) <= 72
        with self._lock:
            if user is None:
                raise SignInError("invalid_credentials")
            if user.failed_logins >= self.lockout_threshold:
                raise SignInError("account_locked")
            if not matches:
                user.failed_logins += 1
                raise SignInError("invalid_credentials")
            if user.disabled:
                raise SignInError("account_disabled")
            user.failed_logins = 0
            return user

    def _require_merchant(self, merchant_id: str) -> None:
        if merchant_id not in self.merchants:
            raise KeyError(merchant_id)
