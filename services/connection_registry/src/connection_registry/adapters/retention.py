"""What the registry's database keeps for how long (shared.retention runs the rules; docs/retention.md says why).
The graph and the timeline are the merchant's record and stay until the merchant is erased."""

from shared.retention import Rule, days, delete_oldest
from shared.settings import RetentionSettings


def retention_rules(settings: RetentionSettings) -> tuple[Rule, ...]:
    """The staff audit (append-only: its trigger lets only these deletes through) and long-expired staff sessions."""
    return (Rule("staff_audit", days(settings.audit_days), delete_oldest("staff_audit", "audit_id", "at"),
                 append_only=True),
            Rule("staff_sessions", days(settings.finished_work_days),
                 delete_oldest("staff_sessions", "session_id", "expires_at")))
