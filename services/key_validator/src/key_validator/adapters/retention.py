"""What the key validator's database keeps for how long (shared.retention runs the rules; docs/retention.md)."""

from shared.retention import Rule, days, delete_oldest, rate_limit_rules
from shared.settings import RetentionSettings

_CLEAR_ADDRESSES = (
    "UPDATE validation_attempts SET client_address = NULL WHERE validation_id IN (SELECT validation_id"
    " FROM validation_attempts WHERE attempted_at < $1 AND client_address IS NOT NULL ORDER BY attempted_at LIMIT $2"
    " FOR UPDATE SKIP LOCKED)")


def retention_rules(settings: RetentionSettings) -> tuple[Rule, ...]:
    """A validation attempt loses its client address first, then goes whole at the audit retention; the rate
    limiter's buckets (per address, per merchant) go once spent."""
    return (*rate_limit_rules(settings),
            Rule("client_addresses", days(settings.client_address_days), _CLEAR_ADDRESSES),
            Rule("validation_attempts", days(settings.audit_days),
                 delete_oldest("validation_attempts", "validation_id", "attempted_at")))
