""""I have finished" kept until the registry has it: when to offer it again, and when a refusal is final."""

from dataclasses import dataclass
from datetime import datetime, timedelta

BEHIND = frozenset({"nothing_connected", "unknown_merchant"})
"""Registry refusals that may only mean it has not yet applied our events (Kafka away or lagging)."""
CATCH_UP = timedelta(hours=24)
"""How long such a refusal is taken for "not yet" while this gateway sees a connected store; then it is final."""


@dataclass(frozen=True, slots=True)
class PendingCompletion:
    """A merchant's "I have finished", not yet taken by the registry; `attempts` counts the offers so far."""

    merchant_id: str
    completed_by: str
    requested_at: datetime
    attempts: int = 0


def retry_at(attempts: int, now: datetime) -> datetime:
    """5 s after the first offer, doubling to at most 10 min: a registry that is away is not hammered."""
    return now + timedelta(seconds=min(600, 5 * 2 ** max(0, attempts - 1)))


def registry_is_behind(code: str, sees_connected: bool, requested_at: datetime, now: datetime,
                       catch_up: timedelta = CATCH_UP) -> bool:
    """A refusal the registry will drop once our events reach it: it says nothing is connected (or it does not
    know the merchant) while this gateway, which publishes those events, has a connected store."""
    return code in BEHIND and sees_connected and now - requested_at < catch_up
