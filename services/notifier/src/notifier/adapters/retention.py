"""What the notifier's database keeps for how long (shared.retention runs the rules; docs/retention.md says why)."""

from shared.retention import Rule, days, delete_oldest
from shared.settings import RetentionSettings


def retention_rules(settings: RetentionSettings) -> tuple[Rule, ...]:
    """Finished deliveries, parked ones (the notifier's dead letters) and restored incidents, with their attempts
    (ON DELETE CASCADE); pending deliveries and open incidents stay whatever their age."""
    return (Rule("deliveries_finished", days(settings.finished_work_days),
                 delete_oldest("helpdesk_deliveries", "delivery_id", "coalesce(delivered_at, cancelled_at)",
                               "status IN ('delivered', 'cancelled')")),
            Rule("deliveries_parked", days(settings.dead_letter_days),
                 delete_oldest("helpdesk_deliveries", "delivery_id", "parked_at", "status = 'parked'")),
            Rule("incidents_restored", days(settings.finished_work_days),
                 delete_oldest("connection_incidents", "(incident_id, store_id)", "restored_at")))
