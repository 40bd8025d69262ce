-- Connection health (ConnectionBroken / ConnectionRestored) and who authorised each organisation in Xero.
-- A broken store keeps state 'connected' and its tenant_id (its map line stays); its last incident is kept
-- once restored so that a late or replayed ConnectionBroken of that incident changes nothing.

ALTER TABLE stores
    ADD COLUMN incident_id     uuid,
    ADD COLUMN incident_reason text,          -- a BreakReason; NULL when only the restore is known
    ADD COLUMN broken_since    timestamptz,   -- when it stopped working
    ADD COLUMN broken_at       timestamptz,   -- the ConnectionBroken's event time
    ADD COLUMN restored_at     timestamptz,   -- the ConnectionRestored's event time; NULL while broken
    ADD CONSTRAINT incident_is_whole CHECK ((incident_id IS NULL) = (broken_since IS NULL)
                                           AND (incident_id IS NOT NULL OR restored_at IS NULL));

-- Stores needing attention, across merchants, for the helpdesk's list.
CREATE INDEX stores_reconnect_needed ON stores (broken_since)
    WHERE state = 'connected' AND incident_id IS NOT NULL AND restored_at IS NULL;

-- The Xero user (from the ID token) whose consent gives this merchant access to the organisation.
ALTER TABLE organisations
    ADD COLUMN authorised_by_xero_userid uuid,
    ADD COLUMN authorised_by_name        text,
    ADD COLUMN authorised_by_email       text;
