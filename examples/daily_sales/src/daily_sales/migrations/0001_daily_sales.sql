-- Merchants this service heard of through the registry's events: finalised or not, and the time of the
-- store → organisation map it holds (an older map arriving late is ignored).
CREATE TABLE merchants (
    merchant_id   text PRIMARY KEY,
    merchant_name text,
    finalised_at  timestamptz,
    finalised_by  text,
    links_as_of   timestamptz
);

-- The merchant's store → organisation map, as of merchants.links_as_of.
CREATE TABLE store_links (
    store_id          text PRIMARY KEY,
    merchant_id       text NOT NULL REFERENCES merchants ON DELETE CASCADE,
    store_name        text NOT NULL,
    tenant_id         uuid NOT NULL,
    organisation_name text NOT NULL
);
CREATE INDEX store_links_by_merchant ON store_links (merchant_id);

-- When an organisation was last disconnected from a merchant: a late, older map cannot bring its stores back.
CREATE TABLE tenant_disconnections (
    merchant_id     text        NOT NULL REFERENCES merchants ON DELETE CASCADE,
    tenant_id       uuid        NOT NULL,
    disconnected_at timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, tenant_id)
);

-- The ledger: one row per store and trading day, from "due" to "posted" (or why not). Never a Xero token.
CREATE TABLE daily_postings (
    store_id        text        NOT NULL,
    day             date        NOT NULL,
    merchant_id     text        NOT NULL,
    tenant_id       uuid        NOT NULL,              -- the organisation at the last attempt
    status          text        NOT NULL CHECK (status IN
                        ('pending', 'posting', 'posted', 'no_sales', 'failed', 'reconnect_needed')),
    attempts        integer     NOT NULL DEFAULT 0,
    redrives        integer     NOT NULL DEFAULT 0,    -- an operator's re-drive of a failed day: a fresh key
    next_attempt_at timestamptz,                       -- when due; the lease's end while `posting`
    invoice_id      text,
    invoice_number  text,
    last_problem    text,                              -- e.g. Xero's validation messages
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    posted_at       timestamptz,
    PRIMARY KEY (store_id, day)
);
CREATE INDEX daily_postings_due ON daily_postings (next_attempt_at)
    WHERE status IN ('pending', 'posting', 'reconnect_needed');
CREATE INDEX daily_postings_pending_by_tenant ON daily_postings (tenant_id) WHERE status = 'pending';
