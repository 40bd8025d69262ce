-- Issue 21: erasing a merchant (docs/erasure.md). The registry's rows about the merchant are deleted in one
-- transaction that also records the erasure here and stages MerchantErased; this row keeps no personal datum, only
-- what an audit needs (who, when, which ticket, how much was removed), and it stops late or replayed events (and a
-- rebuild) from bringing the merchant back.
CREATE TABLE merchant_erasures (
    merchant_id   text        PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,   -- the MerchantErased's CloudEvents id
    requested_by  text        NOT NULL,          -- the lead's identity from the ID token, or ops:<name>
    reference     text        NOT NULL,          -- the ticket
    requested_at  timestamptz NOT NULL,          -- the event's time (a rebuild writes the same row)
    known         boolean     NOT NULL,          -- false: the registry held nothing (only other services may)
    stores        integer     NOT NULL,
    organisations integer     NOT NULL,
    grants        integer     NOT NULL,
    timeline_rows integer     NOT NULL,
    events        integer     NOT NULL,          -- outbox rows and parked events of the merchant removed
    audit_rows    integer     NOT NULL           -- staff_audit rows about the merchant, kept (they hold no personal datum)
);

-- The timeline stays append-only, except for erasure: the erasing transaction names the merchant in a
-- transaction-local setting (set_config(..., true)), and only that merchant's rows may then be deleted.
CREATE OR REPLACE FUNCTION timeline_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('connection_registry.erasing', true) = OLD.merchant_id THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the timeline is append-only';
END $$;
