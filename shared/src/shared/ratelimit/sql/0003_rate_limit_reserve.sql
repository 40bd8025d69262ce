-- shared.ratelimit: a bucket can be held (nothing is taken from it) until a time, e.g. after a third party's
-- 429 with Retry-After, so every instance waits it out.
CREATE TABLE rate_limit_holds (
    bucket text        PRIMARY KEY,
    until  timestamptz NOT NULL
);

-- One reservation in one round trip: lock the buckets in order, find each one's wait (holds, logged hits,
-- counted slices), and take one hit from every bucket only when none has to wait. The arithmetic is
-- limits.py's (wait_before_next, wait_before_next_slice, slice_start), which the tests check both against.
-- p_slice_us: each counted claim's slice length in microseconds (0: a logged claim); p_now NULL: the clock.
CREATE FUNCTION rate_limit_reserve(p_now timestamptz, p_buckets text[], p_max integer[], p_window interval[],
                                   p_slice_us bigint[])
RETURNS TABLE (hit_ids bigint[], slice_starts timestamptz[], retry_after interval, refused_by text, held boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_now    timestamptz := coalesce(p_now, clock_timestamp());
    v_wait   interval;
    v_worst  interval := interval '0';
    v_by     text;
    v_held   boolean := false;
    v_count  bigint;
    v_first  timestamptz;
    v_start  timestamptz;
    v_ids    bigint[] := '{}';
    v_starts timestamptz[] := '{}';
    v_id     bigint;
    i        integer;
BEGIN
    PERFORM pg_advisory_xact_lock(29292, hashtext(b)) FROM (SELECT DISTINCT unnest(p_buckets) AS b ORDER BY 1) s;
    FOR i IN 1 .. coalesce(array_length(p_buckets, 1), 0) LOOP
        SELECT h.until - v_now INTO v_wait FROM rate_limit_holds h WHERE h.bucket = p_buckets[i] AND h.until > v_now;
        IF FOUND AND v_wait > v_worst THEN
            v_worst := v_wait; v_by := p_buckets[i]; v_held := true;
        END IF;
        IF p_slice_us[i] = 0 THEN          -- logged: room once n - max + 1 of the n live hits expired
            SELECT count(*), min(t.expires_at) INTO v_count, v_first FROM (
                SELECT h.expires_at FROM rate_limit_hits h WHERE h.bucket = p_buckets[i] AND h.expires_at > v_now
                ORDER BY h.expires_at DESC LIMIT p_max[i]) t;
            v_wait := CASE WHEN v_count < p_max[i] THEN interval '0' ELSE v_first - v_now END;
        ELSE                               -- counted: room once enough of the oldest overlapping slices left
            SELECT min(t.slice_start) INTO v_first FROM (
                SELECT s.slice_start, sum(s.hits) OVER (ORDER BY s.slice_start) AS gone,
                       sum(s.hits) OVER () AS total
                FROM rate_limit_slices s WHERE s.bucket = p_buckets[i] AND s.expires_at > v_now AND s.hits > 0) t
            WHERE t.total - p_max[i] + 1 > 0 AND t.gone >= t.total - p_max[i] + 1;
            v_wait := CASE WHEN v_first IS NULL THEN interval '0'
                           ELSE v_first + p_slice_us[i] * interval '1 microsecond' + p_window[i] - v_now END;
        END IF;
        IF v_wait > v_worst THEN
            v_worst := v_wait; v_by := p_buckets[i]; v_held := false;
        END IF;
    END LOOP;
    IF v_worst > interval '0' THEN
        RETURN QUERY SELECT NULL::bigint[], NULL::timestamptz[], v_worst, v_by, v_held;
        RETURN;
    END IF;
    -- a few expired rows go with each reservation that writes (SKIP LOCKED: never waits for anyone)
    DELETE FROM rate_limit_hits WHERE id IN (SELECT id FROM rate_limit_hits WHERE expires_at <= v_now
        ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED);
    DELETE FROM rate_limit_slices WHERE (bucket, slice_start) IN (SELECT bucket, slice_start FROM rate_limit_slices
        WHERE expires_at <= v_now ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED);
    FOR i IN 1 .. coalesce(array_length(p_buckets, 1), 0) LOOP
        IF p_slice_us[i] = 0 THEN
            INSERT INTO rate_limit_hits (bucket, hit_at, expires_at) VALUES (p_buckets[i], v_now, v_now + p_window[i])
            RETURNING id INTO v_id;
            v_ids := v_ids || v_id;
        ELSE
            v_start := timestamptz 'epoch' + ((floor(extract(epoch FROM v_now) * 1000000)::bigint / p_slice_us[i])
                                              * p_slice_us[i]) * interval '1 microsecond';
            INSERT INTO rate_limit_slices (bucket, slice_start, hits, expires_at)
            VALUES (p_buckets[i], v_start, 1, v_start + p_slice_us[i] * interval '1 microsecond' + p_window[i])
            ON CONFLICT (bucket, slice_start) DO UPDATE SET hits = rate_limit_slices.hits + 1;
            v_starts := v_starts || v_start;
        END IF;
    END LOOP;
    RETURN QUERY SELECT v_ids, v_starts, interval '0', NULL::text, false;
END
$$;
