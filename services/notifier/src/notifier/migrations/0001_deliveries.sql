-- One row per (event, channel): what the helpdesk must be told, and where that stands.
CREATE TABLE helpdesk_deliveries (
    delivery_id     uuid PRIMARY KEY,            -- also the webhook-id and the email's Message-ID
    event_id        uuid        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    kind            text        NOT NULL,
    merchant_id     text        NOT NULL,
    notification    jsonb       NOT NULL,        -- ids, names and the store → organisation map; no secrets
    status          text        NOT NULL CHECK (status IN ('pending', 'delivered', 'parked')),
    attempts        integer     NOT NULL DEFAULT 0,  -- every attempt ever made; numbers the attempt rows
    cycle_attempts  integer     NOT NULL DEFAULT 0,  -- attempts since creation or the last re-drive
    redrives        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,                 -- when due; the lease's end while an attempt is in flight
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    parked_at       timestamptz,
    UNIQUE (event_id, channel)
);
CREATE INDEX helpdesk_deliveries_due ON helpdesk_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX helpdesk_deliveries_by_status ON helpdesk_deliveries (status, created_at);

-- Every attempt, as it happened: when, how it ended, the receiver's status or error. Never secrets.
CREATE TABLE helpdesk_delivery_attempts (
    delivery_id uuid        NOT NULL REFERENCES helpdesk_deliveries,
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    outcome     text        NOT NULL
        CHECK (outcome IN ('in_flight', 'delivered', 'transient', 'permanent', 'abandoned')),
    status_code integer,
    detail      text,
    PRIMARY KEY (delivery_id, attempt)
);
