-- The login's gate commits without waiting for its WAL to reach the disk. What it writes (the
-- address's request count, the account's count, the address's claim) is a counter, not a
-- session: a crash of the database within the WAL writer's delay (wal_writer_delay, 200 ms by
-- default; up to three of them) can lose the last counts, which gives a guesser that many
-- attempts again, and nothing else. The session that follows a correct password is its own
-- statement and commits synchronously as before; its commit flushes the WAL in order, so once
-- a login has answered, the gate's counts before it are on disk too. Measured on the bench's
-- 2-core machine: the gate's Postgres CPU 0.68-0.78 ms before, 0.35-0.43 ms after, most of the
-- difference the fdatasync of its commit.
--
-- The same function, body and signature, with one more setting for its transaction, so an
-- instance not yet upgraded (a rolling deploy) gets it too.
CREATE OR REPLACE FUNCTION open_login(
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
  -- For this transaction only: the session's statement after it commits synchronously.
  PERFORM set_config('synchronous_commit', 'off', true);
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
