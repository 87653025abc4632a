// The only module that reads or writes token_families and refresh_tokens. Time comes from
// the database (now()), so every instance agrees on windows and expiries.
import { uuidv7 } from '../db/uuid-v7.js'
import type { PrismaClient } from '../generated/prisma/client.js'
import type { Tx } from '../db/client.js'
import { execute, rows as rowsOf, sql, Statement, type Queryable } from '../db/sql.js'
import { parseSessionClaims, type SessionClaims } from '../auth/access-claims.js'
import type { AuditEvent } from '../audit/events.js'

// Stored by createFamily from a checked object; a row that no longer parses (edited by hand,
// or written by a newer version) carries nothing rather than something unchecked.
const sessionClaimsOf = (value: unknown): SessionClaims => parseSessionClaims(value) ?? {}

export const REVOCATION_CHANNEL = 'auth_token_family_revoked'

const ROTATE_SQL = `
  SELECT kind, family_id, user_id, email, email_verified, claims, retry_after_sec, decided_at FROM auth.rotate_refresh_token(
    $1::char(64), $2::char(64), $3::uuid, $4::bigint, $5::bigint, $6::integer, $7::bigint, $8::boolean, $9::uuid, $10::integer, $11::timestamptz)`

interface RotateRow {
  kind: RotationResult['kind']
  family_id: string
  user_id: string
  email: string
  email_verified: boolean
  claims: unknown
  retry_after_sec: number
  decided_at: Date
}

export type RevokeReason =
  | 'logout'
  | 'reuse_detected'
  | 'password_changed'
  | 'admin'
  | 'user_revoked'
  | 'password_reset'
  | 'email_change_undone'

export interface SessionMeta {
  userAgent: string | null
  ip: string | null
}

export interface RevokedFamily {
  id: string
  userId: string
}

export interface LiveFamily {
  id: string
  createdAt: Date
  lastUsedAt: Date
  /** when the session ends unless used again (idle expiry, capped by the absolute one) */
  expiresAt: Date
  userAgent: string | null
  ip: string | null
}

export interface RotateArgs {
  /** SHA-256 of the presented token */
  tokenHash: string
  /** SHA-256 of its child (derived from it), minted on `rotate` */
  childHash: string
  childId?: string
  /** a child's idle lifetime; it never outlives its family */
  ttlMs: number
  /** the reuse window; 0 disables replay */
  windowMs: number
  /** rotations per session per window; null: unlimited */
  limit: { max: number; windowMs: number } | null
  /** false inside a transaction that will be undone: the caller revokes after it */
  revokeOnReuse: boolean
  /** another family's token is `foreign`, and nothing happens */
  expectedFamily: string | null
  /** the decision's instant (tests); default: the database clock once the lock is held */
  now?: Date
}

export interface RotationResult {
  kind: 'rotate' | 'replay' | 'reuse' | 'revoked' | 'expired' | 'limited' | 'foreign'
  familyId: string
  userId: string
  email: string
  /** for `limited`: when the session's window reopens */
  retryAfterSec: number
  decidedAt: Date
  /** the owner's address is proved: carried into every access token the rotation issues */
  emailVerified: boolean
  /** the session's claims, as fixed when it started */
  claims: SessionClaims
}

export interface TimeoutOptions {
  lockTimeoutMs: number
  statementTimeoutMs: number
}

export class TokenStore {
  constructor(
    private readonly prisma: PrismaClient,
    /** the pool Prisma runs on (counted like it), for the statements of logins, refreshes, the denylist and cleanup (db/sql.ts) */
    private readonly pool: Queryable,
    private readonly timeouts: TimeoutOptions,
  ) {}

  /**
   * Starts a family with its first token, only if the user's credentials are still at
   * `credentialsVersion` (the version the caller's password check saw); null, having created
   * nothing, otherwise. FOR SHARE makes a password change in flight (which holds the user's
   * row) finish first, and the condition is then checked against what it committed: no
   * session can start on a password that has been replaced. Expiries are on the database clock.
   * The same statement deletes a login's failure counters and writes its audit row, so a
   * successful login costs this one write.
   */
  async createFamily(args: {
    userId: string
    credentialsVersion: number
    tokenHash: string
    ttlSec: number
    sessionMaxSec: number
    meta: SessionMeta
    /** login_attempts keys deleted with it (a login's counters), only if the session starts */
    resetAttempts?: string[]
    /** fixed for the session's lifetime, returned by every rotation */
    claims?: SessionClaims
    /** the audit row of the session's start, written by the same statement */
    audit?: { type: AuditEvent['type']; at: Date; reason?: string | null }
  }, tx?: Tx): Promise<{ familyId: string; expiresAt: Date } | null> {
    const familyId = uuidv7()
    const tokenId = uuidv7()
    const rows = await rowsOf<{ expires_at: Date }>(tx ?? this.pool, sql`
      WITH owner AS (
        SELECT id FROM auth.users
        WHERE id = ${args.userId}::uuid AND credentials_version = ${args.credentialsVersion}
        FOR SHARE
      ), fam AS (
        INSERT INTO auth.token_families (id, user_id, expires_at, user_agent, ip, claims)
        SELECT ${familyId}::uuid, owner.id,
               now() + make_interval(secs => ${args.sessionMaxSec}), ${args.meta.userAgent}, ${args.meta.ip},
               ${JSON.stringify(args.claims ?? {})}::jsonb
        FROM owner
        RETURNING id, expires_at
      ), tok AS (
        INSERT INTO auth.refresh_tokens (id, token_hash, family_id, expires_at)
        SELECT ${tokenId}::uuid, ${args.tokenHash}, fam.id,
               LEAST(now() + make_interval(secs => ${args.ttlSec}), fam.expires_at)
        FROM fam
        RETURNING expires_at
      ), reset AS (
        DELETE FROM auth.login_attempts
        WHERE key = ANY(${args.resetAttempts ?? []}::char(64)[]) AND EXISTS (SELECT 1 FROM tok)
      ), audit AS (
        INSERT INTO auth.audit_events (id, user_id, family_id, type, reason, ip, user_agent, created_at)
        SELECT ${uuidv7()}::uuid, ${args.userId}::uuid, fam.id, ${args.audit?.type ?? null}, ${args.audit?.reason ?? null}, ${args.meta.ip}, ${args.meta.userAgent}, ${args.audit?.at ?? null}::timestamptz
        FROM fam WHERE ${args.audit !== undefined}::boolean
      )
      SELECT expires_at FROM tok`)
    return rows[0] ? { familyId, expiresAt: rows[0].expires_at } : null
  }

  /**
   * A re-authentication: the claims of a live session of `userId` are replaced by `claims`'s keys
   * (the others, such as client_id, stay). Every access token its refreshes issue from now on
   * carries them. The merged claims, or null when the session is revoked or not the user's.
   */
  async updateClaims(familyId: string, userId: string, claims: SessionClaims, tx: Tx | PrismaClient = this.prisma): Promise<SessionClaims | null> {
    const rows = await tx.$queryRaw<{ claims: unknown }[]>`
      UPDATE auth.token_families SET claims = claims || ${JSON.stringify(claims)}::jsonb
      WHERE id = ${familyId}::uuid AND user_id = ${userId}::uuid AND revoked_at IS NULL AND expires_at > now()
      RETURNING claims`
    return rows[0] ? sessionClaimsOf(rows[0].claims) : null
  }

  /**
   * The session a refresh token belongs to, if that token is the family's live one (unspent,
   * not idled out, its family neither revoked nor past its absolute expiry): introspection's
   * question. Null for any other token.
   */
  async liveSessionOf(tokenHash: string): Promise<{ familyId: string; userId: string; claims: SessionClaims; issuedAt: Date; expiresAt: Date } | null> {
    const rows = await this.prisma.$queryRaw<{ family_id: string; user_id: string; claims: unknown; created_at: Date; expires_at: Date }[]>`
      SELECT f.id AS family_id, f.user_id, f.claims, t.created_at, LEAST(t.expires_at, f.expires_at) AS expires_at
      FROM auth.refresh_tokens t JOIN auth.token_families f ON f.id = t.family_id
      WHERE t.token_hash = ${tokenHash} AND t.spent_at IS NULL AND f.revoked_at IS NULL
        AND t.expires_at > now() AND f.expires_at > now()`
    const r = rows[0]
    return r ? { familyId: r.family_id, userId: r.user_id, claims: sessionClaimsOf(r.claims), issuedAt: r.created_at, expiresAt: r.expires_at } : null
  }

  /** The family a refresh token (spent or not) belongs to, with the session's claims; null for a token never issued. */
  async familyOfToken(tokenHash: string): Promise<{ familyId: string; claims: SessionClaims } | null> {
    const rows = await this.prisma.$queryRaw<{ family_id: string; claims: unknown }[]>`
      SELECT f.id AS family_id, f.claims FROM auth.refresh_tokens t JOIN auth.token_families f ON f.id = t.family_id
      WHERE t.token_hash = ${tokenHash}`
    return rows[0] ? { familyId: rows[0].family_id, claims: sessionClaimsOf(rows[0].claims) } : null
  }

  /** Whether a session can still issue tokens: its family exists and is not revoked (introspection reads it, never the denylist). */
  async isLiveFamily(familyId: string): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<{ id: string }[]>`
      SELECT id FROM auth.token_families WHERE id = ${familyId}::uuid AND revoked_at IS NULL`
    return rows.length > 0
  }

  async findFamilyIdByHash(tokenHash: string): Promise<{ tokenId: string; familyId: string } | null> {
    const row = await this.prisma.refreshToken.findUnique({
      where: { tokenHash },
      select: { id: true, familyId: true },
    })
    return row ? { tokenId: row.id, familyId: row.familyId } : null
  }

  /**
   * One rotation, in one statement: auth.rotate_refresh_token locks the presented token's
   * family, decides (the rule of policy.ts, in SQL), and spends, mints and touches, or revokes
   * on reuse. Concurrent rotations of one family queue on the lock, so each sees the previous
   * one's result. Null, having changed nothing, for a token that was never issued. Inside a
   * caller's transaction with `tx`.
   */
  async rotate(args: RotateArgs, tx?: Tx): Promise<RotationResult | null> {
    const limit = args.limit
    const params = [
      args.tokenHash, args.childHash, args.childId ?? uuidv7(), args.ttlMs, args.windowMs,
      limit?.max ?? null, limit?.windowMs ?? 0, args.revokeOnReuse, args.expectedFamily,
      this.timeouts.lockTimeoutMs, args.now ?? null,
    ]
    // The hot path (every refresh) goes to the pool directly: through Prisma's raw query the
    // same statement costs the server about 70 µs more CPU, a quarter of a refresh's.
    const rows = await rowsOf<RotateRow>(tx ?? this.pool, new Statement(ROTATE_SQL, params))
    const r = rows[0]
    if (!r) return null
    return { kind: r.kind, familyId: r.family_id, userId: r.user_id, email: r.email, emailVerified: r.email_verified, claims: sessionClaimsOf(r.claims), retryAfterSec: r.retry_after_sec, decidedAt: r.decided_at }
  }


  /** An interactive transaction bounded like every statement: waits and runs past these answer 503. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const { lockTimeoutMs, statementTimeoutMs } = this.timeouts
    return this.prisma.$transaction(fn, { maxWait: lockTimeoutMs, timeout: lockTimeoutMs + statementTimeoutMs })
  }

  /** Revokes a family unless already revoked; the family and its owner when this call revoked it. */
  async revokeFamily(familyId: string, reason: RevokeReason, userId?: string): Promise<RevokedFamily | null> {
    const [revoked] = await this.prisma.$transaction((tx) => revokeIn(tx, familyId, reason, userId))
    return revoked ?? null
  }

  /**
   * Revokes one of a user's families. `not_found` when it is not theirs (or does not exist),
   * which the caller cannot tell apart: nobody learns whether someone else's id exists.
   */
  async revokeOwnFamily(
    userId: string,
    familyId: string,
    reason: RevokeReason,
  ): Promise<{ outcome: 'revoked'; family: RevokedFamily } | { outcome: 'already_revoked' | 'not_found' }> {
    return this.prisma.$transaction(async (tx) => {
      const [revoked] = await revokeIn(tx, familyId, reason, userId)
      if (revoked) return { outcome: 'revoked', family: revoked }
      const owned = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM auth.token_families WHERE id = ${familyId}::uuid AND user_id = ${userId}::uuid`
      return { outcome: owned.length > 0 ? 'already_revoked' : 'not_found' }
    })
  }

  /**
   * Revokes every unrevoked family of a user, except `keepFamilyId` when given. One
   * statement; each revoked family is notified at commit like any other revocation.
   */
  async revokeUserFamilies(
    userId: string,
    reason: RevokeReason,
    keepFamilyId: string | null,
    tx: Tx | PrismaClient = this.prisma,
  ): Promise<RevokedFamily[]> {
    // Dated once each family's lock is held, like revokeIn.
    const rows = await tx.$queryRaw<{ id: string; user_id: string }[]>`
      WITH locked AS (
        SELECT id FROM auth.token_families
        WHERE user_id = ${userId}::uuid AND revoked_at IS NULL
          AND (${keepFamilyId}::uuid IS NULL OR id <> ${keepFamilyId}::uuid)
        FOR UPDATE
      ), r AS (
        UPDATE auth.token_families f SET revoked_at = clock_timestamp(), revoked_reason = ${reason}
        FROM locked WHERE f.id = locked.id AND f.revoked_at IS NULL
        RETURNING f.id, f.user_id
      )
      SELECT r.id, r.user_id FROM r, LATERAL (SELECT pg_notify(${REVOCATION_CHANNEL}, r.id::text)) AS notified`
    return rows.map((r) => ({ id: r.id, userId: r.user_id }))
  }

  /**
   * A user's sessions that can still be refreshed: not revoked, not past their absolute
   * lifetime, and holding a live token that has not idled out. Most recently used first.
   */
  async listLiveFamilies(userId: string): Promise<LiveFamily[]> {
    const rows = await this.prisma.$queryRaw<
      { id: string; created_at: Date; last_used_at: Date; expires_at: Date; user_agent: string | null; ip: string | null }[]
    >`
      SELECT f.id, f.created_at, f.last_used_at, LEAST(f.expires_at, t.expires_at) AS expires_at, f.user_agent, f.ip
      FROM auth.token_families f
      JOIN auth.refresh_tokens t ON t.family_id = f.id AND t.spent_at IS NULL
      WHERE f.user_id = ${userId}::uuid AND f.revoked_at IS NULL
        AND f.expires_at > now() AND t.expires_at > now()
      ORDER BY f.last_used_at DESC, f.id`
    return rows.map((r) => ({
      id: r.id,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      expiresAt: r.expires_at,
      userAgent: r.user_agent,
      ip: r.ip,
    }))
  }

  /**
   * Cleanup, one batch: deletes up to `limit` families (their tokens go with them) that were
   * revoked, or reached their absolute expiry, more than `endedKeepSec` ago, or whose last
   * token idled out more than that long ago (`idleKeepSec` counts from the last use). Rows a
   * rotation holds are skipped, not waited for.
   */
  async deleteEndedFamilies(args: { endedKeepSec: number; idleKeepSec: number; limit: number }): Promise<number> {
    return execute(this.pool, sql`
      DELETE FROM auth.token_families WHERE id IN (
        SELECT id FROM auth.token_families
        WHERE revoked_at < now() - make_interval(secs => ${args.endedKeepSec})
           OR expires_at < now() - make_interval(secs => ${args.endedKeepSec})
           OR last_used_at < now() - make_interval(secs => ${args.idleKeepSec})
        LIMIT ${args.limit}
        FOR UPDATE SKIP LOCKED)`)
  }

  /**
   * Cleanup, one batch: deletes up to `limit` spent tokens of surviving families once they are
   * `keepSec` past the expiry they would have had unspent. Until then a spent token still
   * proves theft when presented. The family row is locked with the token (skipping families a
   * rotation holds), so a rotation never sees its token vanish halfway.
   */
  async deleteSpentTokens(args: { keepSec: number; limit: number }): Promise<number> {
    return execute(this.pool, sql`
      DELETE FROM auth.refresh_tokens WHERE id IN (
        SELECT t.id FROM auth.refresh_tokens t
        JOIN auth.token_families f ON f.id = t.family_id
        WHERE t.spent_at IS NOT NULL AND t.expires_at < now() - make_interval(secs => ${args.keepSec})
        LIMIT ${args.limit}
        FOR UPDATE OF t, f SKIP LOCKED)`)
  }

  /**
   * Which of `ids` are revoked, with when: a notification names a family, and only the row
   * says whether it really was revoked (any role that can connect can send a notification).
   */
  async revokedAmong(ids: string[]): Promise<{ id: string; revokedAt: Date; reason: string | null }[]> {
    const rows = await rowsOf<{ id: string; revoked_at: Date; revoked_reason: string | null }>(this.pool, sql`
      SELECT id, revoked_at, revoked_reason FROM auth.token_families WHERE id = ANY(${ids}::uuid[]) AND revoked_at IS NOT NULL`)
    return rows.map((r) => ({ id: r.id, revokedAt: r.revoked_at, reason: r.revoked_reason }))
  }

  /**
   * Families revoked after `since` (or, when null, within the last `lookbackMs` of the
   * database's clock), and that clock, in one round trip.
   */
  async revokedSince(
    since: Date | null,
    lookbackMs: number,
  ): Promise<{ now: Date; families: { id: string; revokedAt: Date; reason: string | null }[] }> {
    const rows = await rowsOf<{ now: Date; id: string | null; revoked_at: Date | null; revoked_reason: string | null }>(this.pool, sql`
      SELECT now() AS now, f.id, f.revoked_at, f.revoked_reason
      FROM (SELECT 1) AS one
      LEFT JOIN auth.token_families f
        ON f.revoked_at > COALESCE(${since}::timestamptz, now() - make_interval(secs => ${lookbackMs / 1000}::float8))`)
    return {
      now: rows[0]!.now,
      families: rows.flatMap((r) => (r.id && r.revoked_at ? [{ id: r.id, revokedAt: r.revoked_at, reason: r.revoked_reason }] : [])),
    }
  }
}

async function revokeIn(tx: Tx, familyId: string, reason: RevokeReason, userId?: string): Promise<RevokedFamily[]> {
  const owner = userId ?? null
  // pg_notify is delivered at commit, to every instance's denylist listener. revoked_at is
  // clock_timestamp() once the row lock is ours (the CTE takes it before the UPDATE computes
  // its values): a revocation that queued behind a rotation or a replay is dated after it, so
  // the denylist keeps the sid until that request's access token has expired too. now(), or
  // clock_timestamp() in a plain UPDATE of a row that was only locked, would be the time the
  // statement began, before the wait.
  const revoked = await tx.$queryRaw<{ id: string; user_id: string }[]>`
    WITH locked AS (
      SELECT id FROM auth.token_families
      WHERE id = ${familyId}::uuid AND revoked_at IS NULL
        AND (${owner}::uuid IS NULL OR user_id = ${owner}::uuid)
      FOR UPDATE
    ), r AS (
      UPDATE auth.token_families f SET revoked_at = clock_timestamp(), revoked_reason = ${reason}
      FROM locked WHERE f.id = locked.id AND f.revoked_at IS NULL
      RETURNING f.id, f.user_id
    )
    SELECT r.id, r.user_id FROM r, LATERAL (SELECT pg_notify(${REVOCATION_CHANNEL}, r.id::text)) AS notified`
  return revoked.map((r) => ({ id: r.id, userId: r.user_id }))
}
