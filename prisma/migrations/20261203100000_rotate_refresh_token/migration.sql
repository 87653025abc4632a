-- Refresh in one round trip: lock the family, decide, spend, mint and touch, in one call.
--
-- The decision is src/tokens/policy.ts (decideRotation) and src/limits/policy.ts
-- (takeFromWindow) written again in SQL; those TypeScript functions stay the specification, and
-- test/tokens/rotation-sql.property.test.ts checks on random states that both decide alike.
--
-- Returns no row for a token never issued. Otherwise one row: the decision (`rotate`, `replay`,
-- `reuse`, `revoked`, `expired`, `limited`, or `foreign` when p_expected_family names another
-- family), the family, its owner and whether the owner's address is proved, the session's
-- claims (fixed at login), the seconds until a limited session's window reopens, and the
-- instant the decision was taken at.
CREATE FUNCTION rotate_refresh_token(
  p_token_hash      CHAR(64),
  p_child_hash      CHAR(64),
  p_child_id        UUID,
  p_ttl_ms          BIGINT,   -- a child's idle lifetime (capped by the family's own expiry)
  p_window_ms       BIGINT,   -- the live token's parent replays within this of the child's creation; 0: never
  p_limit_max       INTEGER,  -- rotations per session per limit window; NULL: unlimited
  p_limit_window_ms BIGINT,
  p_revoke_on_reuse BOOLEAN,  -- false inside a caller's transaction that will undo and revoke itself
  p_expected_family UUID,     -- NULL: any family
  p_lock_timeout_ms INTEGER,  -- the wait for the family's lock, past which the caller answers 503
  p_now             TIMESTAMPTZ DEFAULT NULL  -- the decision's instant; NULL: the clock once the lock is held
) RETURNS TABLE (kind TEXT, family_id UUID, user_id UUID, email TEXT, email_verified BOOLEAN, claims JSONB, retry_after_sec INTEGER, decided_at TIMESTAMPTZ)
LANGUAGE plpgsql
-- Its own search path, whatever the caller's (a host's pool): the names below are ours.
SET search_path = auth, pg_temp
AS $$
-- The result's column names (family_id, user_id, email) are also table columns: in the
-- statements below a name means the column.
#variable_conflict use_column
DECLARE
  fam         RECORD;
  presented   RECORD;
  live        RECORD;
  v_now       TIMESTAMPTZ;
  v_kind      TEXT;
  v_retry     INTEGER := 0;
  v_open      BOOLEAN;
  v_start     TIMESTAMPTZ;
  v_count     INTEGER;
BEGIN
  -- Set for this transaction only, so it holds on a pool we do not configure (a host's).
  PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);

  -- The token -> family link never changes, so it is safe to follow it in the statement that
  -- takes the lock. Concurrent rotations of one family queue here.
  SELECT f.id, f.user_id, u.email, u.email_verified_at IS NOT NULL AS verified, f.claims AS session_claims, f.revoked_at, f.expires_at, f.refresh_window_start, f.refresh_count, t.id AS token_id
  INTO fam
  FROM refresh_tokens t
  JOIN token_families f ON f.id = t.family_id
  JOIN users u ON u.id = f.user_id
  WHERE t.token_hash = p_token_hash
  FOR UPDATE OF f;
  IF NOT FOUND THEN
    RETURN;
  END IF;

  -- Each statement of a volatile function takes a new snapshot: this one sees what the
  -- rotation we may have waited for committed.
  SELECT id, parent_id, created_at, spent_at, expires_at INTO presented FROM refresh_tokens WHERE id = fam.token_id;
  SELECT id, parent_id, created_at INTO live FROM refresh_tokens WHERE family_id = fam.id AND spent_at IS NULL;
  v_now := coalesce(p_now, clock_timestamp());

  IF p_expected_family IS NOT NULL AND fam.id <> p_expected_family THEN
    v_kind := 'foreign';
  ELSIF fam.revoked_at IS NOT NULL THEN
    v_kind := 'revoked';
  ELSIF v_now >= fam.expires_at THEN
    v_kind := 'expired';
  ELSIF presented.spent_at IS NULL THEN
    v_kind := CASE WHEN v_now >= presented.expires_at THEN 'expired' ELSE 'rotate' END;
  ELSIF live.id IS NOT NULL AND live.parent_id = presented.id AND p_window_ms > 0
        AND v_now - live.created_at <= p_window_ms * interval '1 millisecond' THEN
    v_kind := 'replay';
  ELSE
    v_kind := 'reuse';
  END IF;

  IF v_kind = 'rotate' THEN
    -- The per-session limit counts rotations only: a replay hands out nothing new.
    v_open := fam.refresh_window_start IS NOT NULL AND v_now - fam.refresh_window_start < p_limit_window_ms * interval '1 millisecond';
    v_start := CASE WHEN v_open THEN fam.refresh_window_start ELSE v_now END;
    v_count := CASE WHEN v_open THEN fam.refresh_count ELSE 0 END;
    IF p_limit_max IS NOT NULL AND v_count >= p_limit_max THEN
      v_kind := 'limited';
      v_retry := greatest(1, ceil(extract(epoch FROM (v_start + p_limit_window_ms * interval '1 millisecond' - v_now)))::integer);
    ELSE
      UPDATE refresh_tokens SET spent_at = v_now WHERE id = presented.id AND spent_at IS NULL;
      INSERT INTO refresh_tokens (id, token_hash, family_id, parent_id, created_at, expires_at)
      VALUES (p_child_id, p_child_hash, fam.id, presented.id, v_now,
              least(v_now + p_ttl_ms * interval '1 millisecond', fam.expires_at));
      UPDATE token_families
      SET last_used_at = v_now, refresh_window_start = v_start, refresh_count = v_count + 1
      WHERE id = fam.id;
    END IF;
  ELSIF v_kind = 'reuse' AND p_revoke_on_reuse THEN
    -- Evidence of theft: the family ends for good. Dated now, with its lock held; notified at
    -- commit to every instance's denylist.
    UPDATE token_families SET revoked_at = clock_timestamp(), revoked_reason = 'reuse_detected'
    WHERE id = fam.id AND revoked_at IS NULL;
    PERFORM pg_notify('auth_token_family_revoked', fam.id::text);
  END IF;

  RETURN QUERY SELECT v_kind, fam.id, fam.user_id, fam.email, fam.verified, fam.session_claims, v_retry, v_now;
END
$$;
