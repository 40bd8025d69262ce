-- Issue 18: owed Xero work (xero_jobs) as a lease-based queue. A job is claimed in a short transaction (attempts + 1,
-- leased until `locked_until`, which is also its next_attempt_at, so a crashed instance's job comes back by itself),
-- Xero is called with no transaction open, and the outcome is recorded in another short transaction only while the
-- lease is still the job's (the attempt number is the lease). Recording sets `locked_until` to when the attempt ended.
ALTER TABLE xero_jobs ADD COLUMN locked_until timestamptz;
-- What the last attempt found: deleted, already_gone, revoked, xero_unavailable, superseded, ... NULL while an attempt
-- is in flight (or died without a record).
ALTER TABLE xero_jobs ADD COLUMN outcome text;
-- Until when an attempt may have removed something at Xero (an answer saying so, no usable answer, or no record at
-- all): a confirmation whose consent began before then refuses, since Xero keeps a connection's id when the same
-- organisation is authorised again. Kept when the job is later superseded.
ALTER TABLE xero_jobs ADD COLUMN acted_until timestamptz;
-- The consent a DELETE is owed for (a refused selection): that consent does not keep its own connection alive.
ALTER TABLE xero_jobs ADD COLUMN flow_id uuid;

-- A confirmation looks up the jobs that might remove its connection (by connection id) or its grant (revocation).
CREATE INDEX xero_jobs_by_connection ON xero_jobs (connection_id) WHERE connection_id IS NOT NULL;
CREATE INDEX xero_jobs_revoking ON xero_jobs (grant_id) WHERE kind = 'revoke_grant';

-- A job re-checks, when claimed, that no active connection uses its connection id (consents awaiting a selection are
-- found by 0007's indexes).
CREATE INDEX connections_by_connection_id ON connections (connection_id) WHERE status = 'active';
