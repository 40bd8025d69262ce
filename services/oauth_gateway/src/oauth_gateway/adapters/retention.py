"""What the gateway's database keeps for how long (shared.retention runs the rules; docs/retention.md says why)."""

from shared.retention import Rule, days, delete_oldest, rate_limit_rules
from shared.settings import RetentionSettings

_CLEAR_SIGN_IN_ADDRESSES = (  # a refused sign-in's audit row names the client address (merchant.sessions)
    "UPDATE audit_log SET detail = detail - 'client' WHERE seq IN (SELECT seq FROM audit_log WHERE at < $1"
    " AND action = 'sign_in.refused' AND detail ? 'client' ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)")


def retention_rules(settings: RetentionSettings) -> tuple[Rule, ...]:
    """Client addresses in refused sign-ins' audit rows, then the audit log, finished Xero jobs and ended completion
    requests; sessions and flows are purged by upkeep's housekeeping, the rate limiter's spent rows (sign-in and
    tenant buckets) here."""
    finished = days(settings.finished_work_days)
    return (*rate_limit_rules(settings),
            Rule("client_addresses", days(settings.client_address_days), _CLEAR_SIGN_IN_ADDRESSES),
            Rule("audit_log", days(settings.audit_days), delete_oldest("audit_log", "seq", "at"), append_only=True),
            Rule("xero_jobs", finished, delete_oldest("xero_jobs", "job_id", "done_at")),
            Rule("pending_completions", finished, delete_oldest("pending_completions", "merchant_id", "ended_at")))
