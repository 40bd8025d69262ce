-- Browser sessions: only a SHA-256 of the cookie value is stored.
CREATE TABLE web_sessions (
    session_hash  bytea PRIMARY KEY,
    user_id       text        NOT NULL,
    merchant_id   text        NOT NULL,
    merchant_name text        NOT NULL,
    display_name  text        NOT NULL,
    stores        jsonb       NOT NULL DEFAULT '[]',
    key_label     text,
    flash         text,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_by_last_seen ON web_sessions (last_seen_at);

-- One "Connect to Xero" per row; `state` is stored hashed, the PKCE verifier sealed.
CREATE TABLE oauth_flows (
    flow_id       uuid PRIMARY KEY,
    state_hash    bytea       NOT NULL UNIQUE,
    session_hash  bytea       NOT NULL,
    merchant_id   text        NOT NULL,
    user_id       text        NOT NULL,
    store_id      text        NOT NULL,
    store_name    text        NOT NULL,
    verifier      text        NOT NULL,
    nonce         text        NOT NULL,
    created_at    timestamptz NOT NULL,
    status        text        NOT NULL CHECK (status IN
                      ('pending', 'exchanging', 'authorised', 'selected', 'cancelled', 'failed')),
    outcome       text,
    grant_id      text,
    auth_event_id uuid,
    organisations jsonb       NOT NULL DEFAULT '[]'
);
CREATE INDEX oauth_flows_by_created ON oauth_flows (created_at);

-- One token set per Xero grant (a Xero user + this app); tokens are AES-GCM sealed to their row.
CREATE TABLE grants (
    grant_id          text PRIMARY KEY,
    xero_sub          text        NOT NULL UNIQUE,
    scopes            text[]      NOT NULL,
    access_token      text,
    refresh_token     text,
    access_expires_at timestamptz,
    refreshed_at      timestamptz NOT NULL,
    version           integer     NOT NULL DEFAULT 1,
    status            text        NOT NULL CHECK (status IN ('active', 'broken', 'revoked')),
    status_reason     text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

-- A merchant's use of one organisation (tenant) through one grant.
CREATE TABLE connections (
    merchant_id        text        NOT NULL,
    tenant_id          uuid        NOT NULL,
    organisation_name  text        NOT NULL,
    connection_id      uuid        NOT NULL,
    grant_id           text        NOT NULL REFERENCES grants,
    subscription_class text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('active', 'disconnected', 'broken')),
    reason             text,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, tenant_id)
);
CREATE INDEX connections_by_grant ON connections (grant_id) WHERE status = 'active';

-- Work owed to Xero after a disconnect (DELETE /connections/{id}, then revocation), retried until done.
CREATE TABLE xero_jobs (
    job_id          bigserial PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('delete_connection', 'revoke_grant')),
    grant_id        text        NOT NULL,
    merchant_id     text        NOT NULL,
    tenant_id       uuid,
    connection_id   uuid,
    actor           text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    done_at         timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL
);
CREATE INDEX xero_jobs_due ON xero_jobs (next_attempt_at) WHERE done_at IS NULL;

-- What was done to whom, by whom; never a token or key.
CREATE TABLE audit_log (
    seq         bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    merchant_id text,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    tenant_id   uuid,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_merchant ON audit_log (merchant_id, seq);

-- Xero said 429 for a tenant: every instance waits until `until` (the per-tenant budget itself lives in
-- shared.ratelimit's table).
CREATE TABLE xero_tenant_blocks (
    tenant_id uuid PRIMARY KEY,
    until     timestamptz NOT NULL
);
