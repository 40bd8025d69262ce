-- The helpdesk console: reminders to finish the setup, staff sign-in (OpenID Connect) with server-side sessions,
-- and an audit row for everything staff do.

-- "Send reminder" (SetupReminderRequested, the registry's own event): how many, and the last one's event time.
ALTER TABLE merchants
    ADD COLUMN reminders_sent   integer NOT NULL DEFAULT 0,
    ADD COLUMN last_reminded_at timestamptz;

-- A sign-in on its way through the identity provider: single use, minutes long. Keyed by a hash of `state`
-- (the browser holds the state in a cookie too, so a callback from another browser is refused).
CREATE TABLE staff_sign_ins (
    state_hash    bytea       PRIMARY KEY,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    started_at    timestamptz NOT NULL
);

-- A signed-in staff member. The browser holds a random token; only its SHA-256 is stored, so this table
-- cannot be used to sign in. Ended by sign-out, by a lead, or by time (absolute and idle limits).
CREATE TABLE staff_sessions (
    session_id   uuid        PRIMARY KEY,       -- what leads see and end; never the token
    token_hash   bytea       NOT NULL UNIQUE,
    subject      text        NOT NULL,          -- the ID token's `sub`, with its issuer
    issuer       text        NOT NULL,
    actor        text        NOT NULL,          -- recorded with what they do: the verified email, else `sub`
    name         text        NOT NULL,
    email        text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('agent', 'lead')),
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    ended_by     text,
    end_reason   text
);
CREATE INDEX staff_sessions_open ON staff_sessions (last_seen_at DESC) WHERE ended_at IS NULL;

-- Append-only: who did what, when, to which merchant (or delivery, or session), and how it ended.
CREATE TABLE staff_audit (
    audit_id    bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL,
    session_id  uuid,
    subject     text        NOT NULL,
    actor       text        NOT NULL,
    role        text        NOT NULL,
    action      text        NOT NULL,
    merchant_id text,
    target      text,
    outcome     text        NOT NULL
);
CREATE INDEX staff_audit_by_merchant ON staff_audit (merchant_id, at) WHERE merchant_id IS NOT NULL;
CREATE INDEX staff_audit_recent ON staff_audit (at DESC);
CREATE FUNCTION staff_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the staff audit is append-only';
END $$;
CREATE TRIGGER staff_audit_is_append_only BEFORE UPDATE OR DELETE ON staff_audit
    FOR EACH ROW EXECUTE FUNCTION staff_audit_is_append_only();
