-- Issue 17: connection health.

-- The store's name (for the merchant's email and the helpdesk), kept with its link.
ALTER TABLE store_links ADD COLUMN store_name text NOT NULL DEFAULT '';
UPDATE store_links SET store_name = store_id WHERE store_name = '';

-- A broken connection's incident (one per break until repaired) and when the subscription was last re-read.
ALTER TABLE connections ADD COLUMN incident_id uuid;
ALTER TABLE connections ADD COLUMN broken_since timestamptz;
ALTER TABLE connections ADD COLUMN class_checked_at timestamptz;

-- The Xero user who authorised the grant (from the ID token): xero_userid, name, email.
ALTER TABLE grants ADD COLUMN xero_user jsonb;
