-- Issue 21: retention (shared.retention, docs/retention.md). A validation attempt's client address is cleared after
-- the client-address retention (the row stays, with its outcome, for the audit retention); then the row goes.
ALTER TABLE validation_attempts ALTER COLUMN client_address DROP NOT NULL;
CREATE INDEX validation_attempts_with_address ON validation_attempts (attempted_at) WHERE client_address IS NOT NULL;
CREATE INDEX validation_attempts_by_time ON validation_attempts (attempted_at);
