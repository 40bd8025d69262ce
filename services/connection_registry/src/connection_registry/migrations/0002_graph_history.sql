-- The full graph (organisations, grants), merchant-level facts (completion, finalisation), parked events,
-- and a timeline that carries each EVENT's time and a per-merchant position. Every time column below is
-- an event's time written by the registry (no now() defaults), so replaying the topics into an empty
-- database rebuilds identical rows. The one exception, parked_events.parked_at, is operational.

ALTER TABLE merchants
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at DROP DEFAULT,
    ADD COLUMN correlation_id        uuid,
    ADD COLUMN completion_event_id   uuid,
    ADD COLUMN completed_at          timestamptz,
    ADD COLUMN completed_by          text,
    ADD COLUMN completion_links      jsonb,
    ADD COLUMN finalisation_event_id uuid,
    ADD COLUMN finalised_at          timestamptz,
    ADD COLUMN finalised_by          text,
    ADD CONSTRAINT completion_is_whole CHECK (
        (completion_event_id IS NULL) = (completed_at IS NULL)
        AND (completion_event_id IS NULL) = (completed_by IS NULL)
        AND (completion_event_id IS NULL) = (completion_links IS NULL)),
    ADD CONSTRAINT finalised_after_completion CHECK (finalisation_event_id IS NULL OR completion_event_id IS NOT NULL);

ALTER TABLE stores RENAME COLUMN updated_at TO changed_at;
ALTER TABLE stores
    ALTER COLUMN changed_at DROP DEFAULT,
    ADD COLUMN grant_id     text,
    ADD COLUMN connected_at timestamptz,
    ADD CONSTRAINT linked_states_name_an_organisation CHECK (
        state NOT IN ('connected', 'disconnected') OR tenant_id IS NOT NULL);

-- One Xero token set (held by the oauth_gateway), from one consent; several stores may use it.
CREATE TABLE grants (
    merchant_id   text        NOT NULL REFERENCES merchants,
    grant_id      text        NOT NULL,
    auth_event_id uuid        NOT NULL,
    store_id      text        NOT NULL,
    authorised_by text        NOT NULL,
    authorised_at timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, grant_id)
);

-- A Xero organisation (tenant) as this merchant sees it; stores point at it through stores.tenant_id.
CREATE TABLE organisations (
    merchant_id        text        NOT NULL REFERENCES merchants,
    tenant_id          uuid        NOT NULL,
    name               text        NOT NULL,
    state              text        NOT NULL CHECK (state IN ('authorised', 'disconnected')),
    grant_id           text,
    connection_id      uuid,
    subscription_class text,
    reason             text,
    changed_at         timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, tenant_id)
);

ALTER TABLE timeline RENAME COLUMN recorded_at TO occurred_at;
ALTER TABLE timeline
    ALTER COLUMN occurred_at DROP DEFAULT,
    ADD COLUMN position       integer,
    ADD COLUMN tenant_id      uuid,
    ADD COLUMN correlation_id uuid;
UPDATE timeline t SET position = n.position
  FROM (SELECT seq, row_number() OVER (PARTITION BY merchant_id ORDER BY seq) AS position FROM timeline) n
 WHERE t.seq = n.seq;
ALTER TABLE timeline
    ALTER COLUMN position SET NOT NULL,
    ADD CONSTRAINT timeline_position UNIQUE (merchant_id, position);
DROP INDEX timeline_by_merchant;

CREATE FUNCTION timeline_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the timeline is append-only';
END $$;
CREATE TRIGGER timeline_is_append_only BEFORE UPDATE OR DELETE ON timeline
    FOR EACH ROW EXECUTE FUNCTION timeline_is_append_only();

-- Events that refer to something not known yet (domain rule 3): retried after each event of the merchant.
CREATE TABLE parked_events (
    event_id    uuid        PRIMARY KEY,
    merchant_id text        NOT NULL,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    waiting_for text        NOT NULL,
    headers     jsonb       NOT NULL,  -- the CloudEvents attributes, as the Kafka headers they came in
    value       bytea       NOT NULL,  -- the event's data, as received
    parked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_events_by_merchant ON parked_events (merchant_id, occurred_at);
