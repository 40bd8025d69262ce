-- Issue 21: retention (shared.retention, docs/retention.md). Published outbox rows and old inbox claims are pruned
-- in small batches; these indexes let each batch find its rows without reading the ones kept.
CREATE INDEX delivery_outbox_published ON delivery_outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX delivery_inbox_by_age ON delivery_inbox (processed_at);

-- The inbox horizon: an event whose time is before `horizon` is taken as already applied, since its claim may be
-- gone. It is announced first; claims are deleted only once it has stood for shared.retention.GRACE, so that a
-- consumer still holding the previous horizon never looks for a claim that was deleted.
CREATE TABLE delivery_inbox_horizon (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    horizon      timestamptz NOT NULL,
    announced_at timestamptz NOT NULL
);
