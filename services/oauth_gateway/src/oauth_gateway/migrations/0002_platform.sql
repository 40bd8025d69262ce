-- Issue 16: the platform's use of connections.

-- The scopes granted in the consent each organisation was selected under (from its grant, for rows that
-- predate this column), so a connection knows when the configured scopes outgrew it.
ALTER TABLE connections ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';
UPDATE connections c SET scopes = g.scopes FROM grants g WHERE g.grant_id = c.grant_id;

-- Which organisation each store posts to: written by "Confirm Selection", removed by "Disconnect from Xero".
CREATE TABLE store_links (
    store_id      text PRIMARY KEY,
    merchant_id   text        NOT NULL,
    tenant_id     uuid        NOT NULL,
    authorised_by text        NOT NULL,
    connected_at  timestamptz NOT NULL,
    FOREIGN KEY (merchant_id, tenant_id) REFERENCES connections (merchant_id, tenant_id)
);
CREATE INDEX store_links_by_connection ON store_links (merchant_id, tenant_id);

-- Links made before this table existed, from the audit of past selections (latest per store wins), for
-- connections still active.
INSERT INTO store_links (store_id, merchant_id, tenant_id, authorised_by, connected_at)
SELECT DISTINCT ON (a.detail->>'store_id') a.detail->>'store_id', a.merchant_id, a.tenant_id, a.actor, a.at
FROM audit_log a JOIN connections c ON c.merchant_id = a.merchant_id AND c.tenant_id = a.tenant_id
WHERE a.action = 'organisation.selected' AND a.detail ? 'store_id' AND c.status = 'active'
ORDER BY a.detail->>'store_id', a.seq DESC;

-- Named platform clients of the internal API; only a SHA-256 of each bearer token is kept.
CREATE TABLE platform_clients (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    token_hash   bytea       NOT NULL UNIQUE,
    operations   text[]      NOT NULL,
    merchant_ids text[],                        -- NULL: every merchant
    created_at   timestamptz NOT NULL,
    rotated_at   timestamptz NOT NULL,
    disabled_at  timestamptz
);
