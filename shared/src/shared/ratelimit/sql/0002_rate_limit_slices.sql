-- shared.ratelimit, counted limits: one row per bucket per time slice with its hit count. A slice counts
-- until expires_at (its end plus the window), when it no longer overlaps any window ending later.
CREATE TABLE rate_limit_slices (
    bucket      text        NOT NULL,
    slice_start timestamptz NOT NULL,
    hits        integer     NOT NULL CHECK (hits >= 0),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (bucket, slice_start)
);
CREATE INDEX rate_limit_slices_by_expiry ON rate_limit_slices (expires_at);
