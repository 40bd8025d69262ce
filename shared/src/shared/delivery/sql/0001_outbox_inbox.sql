-- The delivery kit's tables, created in every service's own database.
CREATE TABLE delivery_outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    record_key   bytea       NOT NULL,
    headers      jsonb       NOT NULL,
    value        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX delivery_outbox_pending ON delivery_outbox (seq) WHERE published_at IS NULL;

-- Processed event ids per consumer: the insert shares the transaction of the event's effect.
CREATE TABLE delivery_inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
