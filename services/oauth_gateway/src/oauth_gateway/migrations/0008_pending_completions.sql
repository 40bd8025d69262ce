-- "I have finished connecting stores" requests the registry could not take when they were made (it was away,
-- or had not yet applied our events because Kafka was): offered to it again by the gateway's completions step
-- with backoff (merchant.completions). One row per merchant: the latest request, then its outcome.
CREATE TABLE pending_completions (
    merchant_id     text PRIMARY KEY,
    completed_by    text NOT NULL,
    requested_at    timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,   -- also the lease of the instance offering it now
    last_error      text,
    outcome         text,                   -- NULL while pending; delivered:202, delivered:200, refused:<code>
    ended_at        timestamptz
);

CREATE INDEX pending_completions_due ON pending_completions (next_attempt_at) WHERE outcome IS NULL;
