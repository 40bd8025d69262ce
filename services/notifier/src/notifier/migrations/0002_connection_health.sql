-- Connection health (ConnectionBroken / ConnectionRestored): the merchant's emails go through the same delivery
-- rows as the helpdesk's notices (leases, retries, parking, re-drive, /v1/deliveries). A merchant's reminders are
-- rows due days later; restoring the connection or the merchant's stop link cancels those still owed.
ALTER TABLE helpdesk_deliveries DROP CONSTRAINT helpdesk_deliveries_event_id_channel_key;  -- one event, 1 + n reminders
ALTER TABLE helpdesk_deliveries DROP CONSTRAINT helpdesk_deliveries_channel_check;
ALTER TABLE helpdesk_deliveries ADD CONSTRAINT helpdesk_deliveries_channel_check
    CHECK (channel IN ('email', 'webhook', 'merchant_email'));
ALTER TABLE helpdesk_deliveries DROP CONSTRAINT helpdesk_deliveries_status_check;
ALTER TABLE helpdesk_deliveries ADD CONSTRAINT helpdesk_deliveries_status_check
    CHECK (status IN ('pending', 'delivered', 'parked', 'cancelled'));
ALTER TABLE helpdesk_deliveries
    ADD COLUMN incident_id  uuid,                -- a connection-health notice's incident
    ADD COLUMN cancelled_at timestamptz;
CREATE INDEX helpdesk_deliveries_by_incident ON helpdesk_deliveries (merchant_id, incident_id)
    WHERE incident_id IS NOT NULL;

-- One row per broken store connection (incident and store). A ConnectionRestored consumed before its
-- ConnectionBroken (another topic) leaves the ids and restored_at only; the break then emails nobody.
CREATE TABLE connection_incidents (
    incident_id          uuid        NOT NULL,
    store_id             text        NOT NULL,
    merchant_id          text        NOT NULL,
    store_name           text,
    tenant_id            uuid,
    organisation_name    text,
    reason               text,
    since                timestamptz,
    reconnect_url        text,                   -- the gateway's signed link; it leads through sign-in
    opened_at            timestamptz,
    restored_at          timestamptz,
    reminders_stopped_at timestamptz,
    PRIMARY KEY (incident_id, store_id)
);
CREATE INDEX connection_incidents_open_by_store ON connection_incidents (merchant_id, store_id)
    WHERE restored_at IS NULL;
