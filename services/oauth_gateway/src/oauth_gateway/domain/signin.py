"""Who a sign-in attempt is about, without keeping who it is: accounts as keyed hashes, and the browsers
that signed in to an account before.

Cloud POS locks an account after a few failed sign-ins in a row (the sandbox: 5, forgotten only when the
owner signs in), so the gateway counts the failures it passed on per account and stops calling Cloud POS
well before that. A stranger may spend fewer of them than the owner's own browsers (those that signed in to
the account before, known by an HMAC mark in a cookie): once a stranger has spent theirs, the owner can still
try from a browser they used before, and a success empties the count, as it does at Cloud POS.
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from shared.ratelimit import Limit

_MARK_CHARS = 32       # hex of the HMAC mark of a known browser (128 bits)
_MARKS_KEPT = 3        # accounts one browser remembers (a shared shop computer)


def normalised(username: str) -> str:
    """At least as coarse as Cloud POS's own matching (case-insensitive, surrounding spaces removed): two
    spellings of one account must never get two budgets."""
    return username.strip().casefold()


@dataclass(frozen=True, slots=True)
class SignInLimits:
    """`stranger`/`known_browser`: failures counted against one account (one bucket, two ceilings);
    `per_address`: failures from one client address (or IPv6 /64)."""

    stranger: Limit
    known_browser: Limit
    per_address: Limit

    @classmethod
    def of(cls, lockout_threshold: int, stranger_failures: int, account_memory: timedelta,
           address_failures: int, address_window: timedelta) -> "SignInLimits":
        if not stranger_failures < lockout_threshold - 1:
            raise ValueError("a stranger's failures must stay below Cloud POS's lockout threshold minus one")
        return cls(Limit(stranger_failures, account_memory), Limit(lockout_threshold - 1, account_memory),
                   Limit(address_failures, address_window))


class Accounts:
    """Keyed hashes: the rate-limit rows and the audit log hold `key(username)`, never the username."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def key(self, username: str) -> str:
        return hmac.new(self._secret, b"sign-in-account:" + normalised(username).encode(), hashlib.sha256).hexdigest()

    def _mark(self, account: str) -> str:
        return hmac.new(self._secret, b"known-browser:" + account.encode(), hashlib.sha256).hexdigest()[:_MARK_CHARS]

    def known(self, cookie: str, account: str) -> bool:
        """Whether this browser signed in to `account` before (its cookie holds the account's mark)."""
        mark = self._mark(account).encode()
        return any(hmac.compare_digest(mark, sent.encode()) for sent in _marks(cookie))

    def remember(self, cookie: str, account: str) -> str:
        """The cookie after a successful sign-in: this account's mark first, then up to two others."""
        mark = self._mark(account)
        return ".".join([mark, *[m for m in _marks(cookie) if m != mark][:_MARKS_KEPT - 1]])


def _marks(cookie: str) -> list[str]:
    return [m for m in cookie.split(".") if len(m) == _MARK_CHARS and m.isalnum()][:_MARKS_KEPT]
