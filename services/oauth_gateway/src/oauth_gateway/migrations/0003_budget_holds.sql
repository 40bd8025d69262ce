-- The budget's 429 holds moved to shared.ratelimit's rate_limit_holds (one round trip per reservation).
DROP TABLE xero_tenant_blocks;
