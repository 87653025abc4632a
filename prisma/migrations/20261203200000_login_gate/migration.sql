-- A login's counters in one round trip, before argon2: the per-account count (the proof-of-work
-- ceiling) and the per-address claim (the failed-login lock), each taken on its own row's lock
-- for the length of one statement instead of an interactive transaction.
--
-- claim_login_attempt is src/limits/policy.ts (decideAttempt, lockSecondsAfter) written again
-- in SQL; the TypeScript stays the specification, and test/limits/login-gate-sql.property.test.ts
-- checks on random states that both decide alike and that the row ends as the decision says.

-- The per-account counter: counts one attempt, in advance, if the key has fewer than p_below
-- failures (or none within p_reset_sec). `counted` false: not counted, and `failures` is what
-- stopped it (at least p_below).
CREATE FUNCTION count_login_attempt(
  p_key       CHAR(64),
  p_below     INTEGER,
  p_reset_sec INTEGER,
  p_now       TIMESTAMPTZ DEFAULT NULL
) RETURNS TABLE (counted BOOLEAN, failures INTEGER)
LANGUAGE plpgsql
SET search_path = auth, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  v_now    TIMESTAMPTZ := date_trunc('milliseconds', coalesce(p_now, clock_timestamp()));
  v_after  INTEGER;
  v_found  INTEGER;
BEGIN
  INSERT INTO login_attempts AS a (key, failures, last_failure_at)
  VALUES (p_key, 1, v_now)
  ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN a.last_failure_at <= v_now - make_interval(secs => p_reset_sec) THEN 1
                    ELSE LEAST(a.failures + 1, 2147483647) END,
    last_failure_at = v_now
  WHERE a.last_failure_at <= v_now - make_interval(secs => p_reset_sec) OR a.failures < p_below
  RETURNING a.failures INTO v_after;
  IF v_after IS NOT NULL THEN
    RETURN QUERY SELECT true, v_after;
  ELSE
    -- Not counted: the row exists and is locked by the statement above; read it as it is now.
    SELECT a.failures INTO v_found FROM login_attempts a WHERE a.key = p_key;
    RETURN QUERY SELECT false, GREATEST(coalesce(v_found, 0), p_below);
  END IF;
END
$$;

-- The per-address claim, before a password is checked: while locked, refused and nothing
-- changes; otherwise counted as a failure in advance, with the lock that failure would earn.
-- A correct password then deletes the row.
CREATE FUNCTION claim_login_attempt(
  p_key           CHAR(64),
  p_free_failures INTEGER,
  p_base_sec      INTEGER,
  p_max_sec       INTEGER,
  p_reset_sec     INTEGER,
  p_now           TIMESTAMPTZ DEFAULT NULL
) RETURNS TABLE (allowed BOOLEAN, retry_after_sec INTEGER)
LANGUAGE plpgsql
SET search_path = auth, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  r          RECORD;
  v_now      TIMESTAMPTZ;
  v_failures INTEGER;
  v_over     INTEGER;
  v_lock_sec BIGINT;
BEGIN
  -- Takes the row's lock (creating the row): concurrent attempts on one key queue here, and
  -- each sees the failures counted before it.
  INSERT INTO login_attempts AS a (key, failures, last_failure_at)
  VALUES (p_key, 0, clock_timestamp())
  ON CONFLICT (key) DO UPDATE SET failures = a.failures
  RETURNING a.failures, a.last_failure_at, a.locked_until INTO r;
  -- The clock once the lock is held; milliseconds, as the table keeps them.
  v_now := date_trunc('milliseconds', coalesce(p_now, clock_timestamp()));

  -- A row with no failure is no state at all (decideAttempt's null).
  IF r.failures > 0 AND r.locked_until IS NOT NULL AND r.locked_until > v_now THEN
    RETURN QUERY SELECT false, GREATEST(1, ceil(extract(epoch FROM r.locked_until - v_now))::INTEGER);
    RETURN;
  END IF;
  v_failures := CASE WHEN r.failures = 0 OR v_now >= r.last_failure_at + make_interval(secs => p_reset_sec) THEN 0
                     ELSE r.failures END;
  v_failures := LEAST(v_failures::BIGINT + 1, 2147483647);
  -- lockSecondsAfter: 0, …, 0, base, 2·base, 4·base, …, max
  v_over := v_failures - p_free_failures;
  v_lock_sec := CASE WHEN v_over <= 0 THEN 0
                     ELSE LEAST(p_base_sec::BIGINT * (1::BIGINT << LEAST(v_over - 1, 30)), p_max_sec) END;
  UPDATE login_attempts
  SET failures = v_failures,
      last_failure_at = v_now,
      locked_until = CASE WHEN v_lock_sec > 0 THEN v_now + make_interval(secs => v_lock_sec) END
  WHERE key = p_key;
  RETURN QUERY SELECT true, 0;
END
$$;

-- Both, in a login's order: the account's count first (an attempt turned away for want of a
-- proof counts nowhere), then the claim for this address. `allowed` is NULL when not counted.
CREATE FUNCTION open_login(
  p_account_key     CHAR(64),
  p_below           INTEGER,
  p_attempt_key     CHAR(64),
  p_free_failures   INTEGER,
  p_base_sec        INTEGER,
  p_max_sec         INTEGER,
  p_reset_sec       INTEGER,
  p_lock_timeout_ms INTEGER,
  p_now             TIMESTAMPTZ DEFAULT NULL
) RETURNS TABLE (counted BOOLEAN, account_failures INTEGER, allowed BOOLEAN, retry_after_sec INTEGER)
LANGUAGE plpgsql
SET search_path = auth, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  c RECORD;
  a RECORD;
BEGIN
  -- Set for this transaction only, so it holds on a pool we do not configure (a host's).
  PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
  SELECT * INTO c FROM count_login_attempt(p_account_key, p_below, p_reset_sec, p_now);
  IF NOT c.counted THEN
    RETURN QUERY SELECT false, c.failures, NULL::BOOLEAN, 0;
    RETURN;
  END IF;
  SELECT * INTO a FROM claim_login_attempt(p_attempt_key, p_free_failures, p_base_sec, p_max_sec, p_reset_sec, p_now);
  RETURN QUERY SELECT true, c.failures, a.allowed, a.retry_after_sec;
END
$$;
