-- Issue 21: retention (shared.retention, docs/retention.md): client addresses in refused sign-ins, audit rows,
-- finished Xero jobs and ended completion requests go after their retention; these indexes let each batch find them
-- without reading the rest.
CREATE INDEX audit_log_by_time ON audit_log (at);
-- A refused sign-in's row names the client address (detail->>'client'): cleared after the client-address retention.
CREATE INDEX audit_log_sign_in_addresses ON audit_log (at) WHERE action = 'sign_in.refused' AND detail ? 'client';
CREATE INDEX xero_jobs_done ON xero_jobs (done_at) WHERE done_at IS NOT NULL;
CREATE INDEX pending_completions_ended ON pending_completions (ended_at) WHERE ended_at IS NOT NULL;
