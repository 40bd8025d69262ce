-- shared.ratelimit: one row per hit taken from a bucket; rows past expires_at no longer count.
CREATE TABLE rate_limit_hits (
    id         bigserial   PRIMARY KEY,
    bucket     text        NOT NULL,
    hit_at     timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX rate_limit_hits_by_bucket ON rate_limit_hits (bucket, expires_at);
CREATE INDEX rate_limit_hits_by_expiry ON rate_limit_hits (expires_at);
