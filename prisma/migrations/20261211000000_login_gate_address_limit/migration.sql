-- The login's per-address (per-IP) request limit joins its gate statement: a login is one
-- statement before argon2 and one after, instead of three. The window counter becomes a
-- function, so the gate and CounterStore.hit (every other route's limit) count alike.

-- Counts one request under p_key in a fixed window of p_window_ms; a window that has ended
-- starts again at 1, and a full one stays at the largest integer. Windows are timed on the
-- database's clock, so instances agree.
CREATE FUNCTION hit_rate_limit_counter(
  p_key       CHAR(64),
  p_window_ms BIGINT
) RETURNS TABLE (count INTEGER, ttl_ms INTEGER)
LANGUAGE sql
SET search_path = auth, pg_temp
AS $$
  INSERT INTO rate_limit_counters AS c (key, count, expires_at)
  VALUES (p_key, 1, now() + make_interval(secs => p_window_ms / 1000.0))
  ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN c.expires_at <= now() THEN 1 ELSE LEAST(c.count::BIGINT + 1, 2147483647)::INTEGER END,
    expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
  RETURNING c.count, GREATEST(0, ceil(extract(epoch FROM c.expires_at - now()) * 1000))::INTEGER
$$;

-- open_login as before, with the address's request limit first when p_address_key is given:
-- a request past p_address_max in its window is refused (address_limited, with the window's
-- remaining ms) and counts nowhere else, as when the limit ran before the login. The new
-- arguments come after p_now with defaults, so a caller of the old signature (an instance not
-- yet upgraded, during a rolling deploy) still resolves to this function and reads the
-- columns it knew.
DROP FUNCTION open_login(CHAR(64), INTEGER, CHAR(64), INTEGER, INTEGER, INTEGER, INTEGER, INTEGER, TIMESTAMPTZ);

CREATE FUNCTION open_login(
  p_account_key       CHAR(64),
  p_below             INTEGER,
  p_attempt_key       CHAR(64),
  p_free_failures     INTEGER,
  p_base_sec          INTEGER,
  p_max_sec           INTEGER,
  p_reset_sec         INTEGER,
  p_lock_timeout_ms   INTEGER,
  p_now               TIMESTAMPTZ DEFAULT NULL,
  p_address_key       CHAR(64) DEFAULT NULL,
  p_address_max       INTEGER DEFAULT NULL,
  p_address_window_ms BIGINT DEFAULT NULL
) RETURNS TABLE (counted BOOLEAN, account_failures INTEGER, allowed BOOLEAN, retry_after_sec INTEGER, address_limited BOOLEAN, address_retry_after_ms INTEGER)
LANGUAGE plpgsql
SET search_path = auth, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  h RECORD;
  c RECORD;
  a RECORD;
BEGIN
  -- Set for this transaction only, so it holds on a pool we do not configure (a host's).
  PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
  IF p_address_key IS NOT NULL THEN
    SELECT * INTO h FROM hit_rate_limit_counter(p_address_key, p_address_window_ms);
    IF h.count > p_address_max THEN
      RETURN QUERY SELECT false, 0, NULL::BOOLEAN, 0, true, h.ttl_ms;
      RETURN;
    END IF;
  END IF;
  SELECT * INTO c FROM count_login_attempt(p_account_key, p_below, p_reset_sec, p_now);
  IF NOT c.counted THEN
    RETURN QUERY SELECT false, c.failures, NULL::BOOLEAN, 0, false, 0;
    RETURN;
  END IF;
  SELECT * INTO a FROM claim_login_attempt(p_attempt_key, p_free_failures, p_base_sec, p_max_sec, p_reset_sec, p_now);
  RETURN QUERY SELECT true, c.failures, a.allowed, a.retry_after_sec, false, 0;
END
$$;
