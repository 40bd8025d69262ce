-- Issue 21: retention (shared.retention, docs/retention.md). Finished deliveries (delivered, cancelled) and parked
-- ones go after their retention with their attempts; restored incidents after theirs.
ALTER TABLE helpdesk_delivery_attempts DROP CONSTRAINT helpdesk_delivery_attempts_delivery_id_fkey;
ALTER TABLE helpdesk_delivery_attempts ADD CONSTRAINT helpdesk_delivery_attempts_delivery_id_fkey
    FOREIGN KEY (delivery_id) REFERENCES helpdesk_deliveries ON DELETE CASCADE;
CREATE INDEX helpdesk_deliveries_finished ON helpdesk_deliveries (coalesce(delivered_at, cancelled_at))
    WHERE status IN ('delivered', 'cancelled');
CREATE INDEX connection_incidents_restored ON connection_incidents (restored_at) WHERE restored_at IS NOT NULL;
