-- Issue 18: abandoned consents. A consent given at Xero ("Allow access") that nobody confirms ("Confirm Selection")
-- within the consent TTL is abandoned: its Xero connections nothing else uses are deleted, its grant revoked when
-- unused. Until then the merchant may resume the selection from the stores page, in any later session.
ALTER TABLE oauth_flows DROP CONSTRAINT oauth_flows_status_check;
ALTER TABLE oauth_flows ADD CONSTRAINT oauth_flows_status_check CHECK (status IN
    ('pending', 'exchanging', 'authorised', 'selected', 'cancelled', 'failed', 'abandoned'));

-- When Xero's consent completed: the TTL counts from here (consents already waiting count from their start).
ALTER TABLE oauth_flows ADD COLUMN authorised_at timestamptz;
UPDATE oauth_flows SET authorised_at = created_at WHERE status = 'authorised';

-- Only consents waiting for a selection are ever looked up by these (a handful per merchant, at most).
CREATE INDEX oauth_flows_awaiting ON oauth_flows (authorised_at) WHERE status = 'authorised';
CREATE INDEX oauth_flows_awaiting_by_merchant ON oauth_flows (merchant_id) WHERE status = 'authorised';
CREATE INDEX oauth_flows_awaiting_by_grant ON oauth_flows (grant_id) WHERE status = 'authorised';
