CREATE TABLE merchants (
    merchant_id text PRIMARY KEY,
    name        text NOT NULL,
    licence     text NOT NULL,
    key_id      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stores (
    merchant_id text NOT NULL REFERENCES merchants,
    store_id    text NOT NULL,
    name        text NOT NULL,
    state       text NOT NULL CHECK (state IN ('eligible', 'authorised', 'connected', 'disconnected')),
    tenant_id   uuid,
    reason      text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, store_id)
);

-- Append-only history per merchant.
CREATE TABLE timeline (
    seq          bigserial PRIMARY KEY,
    merchant_id  text NOT NULL,
    store_id     text,
    what         text NOT NULL,
    actor        text NOT NULL,
    reason       text,
    event_id     uuid NOT NULL,
    causation_id uuid,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timeline_by_merchant ON timeline (merchant_id, seq);
