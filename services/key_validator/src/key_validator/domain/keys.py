"""A Cloud POS API key as a value that cannot leak by accident, and what we keep instead of it."""

import hashlib
import hmac
import re
from ipaddress import IPv4Address, IPv6Address

from shared.client_address import address_group

KEY_PREFIX = "cpk_"
MAX_KEY_LENGTH = 128
# `cpk_` then URL-safe characters: the platform issues `cpk_` + 40 (token_urlsafe(30)); 20..128 in all.
KEY_PATTERN = r"^cpk_[A-Za-z0-9_-]{16,124}$"
_KEY = re.compile(KEY_PATTERN.strip("^$"))

IpAddress = IPv4Address | IPv6Address


class InvalidKeyFormat(ValueError):
    """The text cannot be a Cloud POS API key. The message never repeats the text."""


class ApiKey:
    """The plain key, reachable only through `reveal()`: repr, str and f-strings show a mask.

    The format is checked here, before anything else sees the key (no lookup, no I/O for garbage).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not _KEY.fullmatch(value):
            raise InvalidKeyFormat("not a Cloud POS API key")
        self._value = value

    def reveal(self) -> str:
        """The plain key: only for the request to Cloud POS and the fingerprint."""
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('cpk_…')"

    __str__ = __repr__

    def __reduce__(self) -> None:  # no pickling into caches, queues or crash dumps
        raise TypeError("an ApiKey cannot be serialised")


def fingerprint(key: ApiKey, secret: bytes) -> str:
    """HMAC-SHA256 with a server-side pepper: identifies a key in the audit trail, cannot be reversed
    or brute-forced without the pepper, which lives only in settings."""
    return hmac.new(secret, key.reveal().encode(), hashlib.sha256).hexdigest()


def same(left: str | None, right: str) -> bool:
    """Constant-time equality, so comparisons about keys do not leak through timing."""
    return left is not None and hmac.compare_digest(left.encode(), right.encode())


def merchant_bucket(merchant_id: str) -> str:
    return f"merchant:{merchant_id}"


def client_bucket(address: IpAddress) -> str:
    """IPv6 clients are counted per /64 (one subscriber usually holds a whole /64): `shared.client_address`.
    The address is the one the gateway read (X-Forwarded-For only from its trusted proxies) and sent with its
    bearer token: key_validator is never reached through a proxy of its own."""
    return f"client:{address_group(address)}"
