-- Issue 21: retention (shared.retention, docs/retention.md). The staff audit stays append-only, except for rows past
-- their retention: the pruning transaction names its cutoff in a transaction-local setting (set_config(..., true)),
-- and only rows older than it may then be deleted. An UPDATE, or a DELETE of a younger row, is still refused.
CREATE OR REPLACE FUNCTION staff_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < nullif(current_setting('retention.prune_before', true), '')::timestamptz THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the staff audit is append-only';
END $$;

-- Staff sessions go a while after their absolute expiry (they name the staff member).
CREATE INDEX staff_sessions_by_expiry ON staff_sessions (expires_at);
