-- Issue 18: upkeep as a job queue. Each grant carries when it is next due for a keep-alive (a token refresh) and
-- for a check (one GET /connections); any instance takes due grants with FOR UPDATE SKIP LOCKED under a lease.
-- '-infinity': due at once (existing grants are scheduled on the first pass; a keep-alive only refreshes a grant
-- idle for long enough).
ALTER TABLE grants ADD COLUMN next_keepalive_at timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE grants ADD COLUMN next_check_at timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE grants ADD COLUMN upkeep_lease_until timestamptz;
-- Failed refreshes in a row (a lost answer): retried within seconds, inside Xero's 30-minute grace.
ALTER TABLE grants ADD COLUMN upkeep_failures integer NOT NULL DEFAULT 0;
-- A token refresh in progress somewhere: the others wait for its answer instead of locking the row across the call.
ALTER TABLE grants ADD COLUMN refresh_lease_until timestamptz;

CREATE INDEX grants_upkeep_due ON grants (least(next_keepalive_at, next_check_at)) WHERE status = 'active';
