// The only module that reads or writes token_families and refresh_tokens. Time comes from
// the database (now()), so every instance agrees on windows and expiries.
import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.js'
import type { Tx } from '../db/client.js'
import type { WindowState } from '../limits/policy.js'
import type { FamilyState, TokenState } from './policy.js'

export const REVOCATION_CHANNEL = 'auth_token_family_revoked'

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

export interface LockedFamily extends FamilyState {
  id: string
  userId: string
  email: string
  /** the owner's address is proved: carried into every access token the rotation issues */
  emailVerified: boolean
  /** the per-session refresh limit's window */
  refreshWindow: WindowState
}

export interface RotationState {
  family: LockedFamily
  presented: TokenState
  live: TokenState | null
  now: Date
}

export type RotationAction =
  | { type: 'mint-child'; childHash: string; childExpiresAt: Date; refreshWindow: WindowState }
  | { type: 'revoke'; reason: RevokeReason }
  | { type: 'none' }

export interface TimeoutOptions {
  lockTimeoutMs: number
  statementTimeoutMs: number
}

interface TokenRow {
  id: string
  parent_id: string | null
  created_at: Date
  spent_at: Date | null
  expires_at: Date
}

const toTokenState = (r: TokenRow): TokenState => ({
  id: r.id,
  parentId: r.parent_id,
  createdAt: r.created_at,
  spentAt: r.spent_at,
  expiresAt: r.expires_at,
})

export class TokenStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly timeouts: TimeoutOptions,
  ) {}

  /**
   * Starts a family with its first token, only if the user's credentials are still at
   * `credentialsVersion` (the version the caller's password check saw); null, having created
   * nothing, otherwise. FOR SHARE makes a password change in flight (which holds the user's
   * row) finish first, and the condition is then checked against what it committed: no
   * session can start on a password that has been replaced. Expiries are on the database clock.
   */
  async createFamily(args: {
    userId: string
    credentialsVersion: number
    tokenHash: string
    ttlSec: number
    sessionMaxSec: number
    meta: SessionMeta
  }): Promise<{ familyId: string; expiresAt: Date } | null> {
    const familyId = randomUUID()
    const tokenId = randomUUID()
    const rows = await this.prisma.$queryRaw<{ expires_at: Date }[]>`
      WITH owner AS (
        SELECT id FROM auth.users
        WHERE id = ${args.userId}::uuid AND credentials_version = ${args.credentialsVersion}
        FOR SHARE
      ), fam AS (
        INSERT INTO auth.token_families (id, user_id, expires_at, user_agent, ip)
        SELECT ${familyId}::uuid, owner.id,
               now() + make_interval(secs => ${args.sessionMaxSec}), ${args.meta.userAgent}, ${args.meta.ip}
        FROM owner
        RETURNING id, expires_at
      )
      INSERT INTO auth.refresh_tokens (id, token_hash, family_id, expires_at)
      SELECT ${tokenId}::uuid, ${args.tokenHash}, fam.id,
             LEAST(now() + make_interval(secs => ${args.ttlSec}), fam.expires_at)
      FROM fam
      RETURNING expires_at`
    return rows[0] ? { familyId, expiresAt: rows[0].expires_at } : null
  }

  async findFamilyIdByHash(tokenHash: string): Promise<{ tokenId: string; familyId: string } | null> {
    const row = await this.prisma.refreshToken.findUnique({
      where: { tokenHash },
      select: { id: true, familyId: true },
    })
    return row ? { tokenId: row.id, familyId: row.familyId } : null
  }

  /**
   * One short transaction: find the presented token's family and lock its row, read the
   * presented and the live token, let `decide` choose, apply the choice. Concurrent rotations
   * of one family queue on the row lock, so each reads the previous one's result. Resolves to
   * null, having changed nothing, for a token that was never issued.
   */
  async rotate<T>(
    tokenHash: string,
    decide: (state: RotationState) => { action: RotationAction; result: T },
  ): Promise<T | null> {
    return this.transaction((tx) => this.rotateIn(tx, tokenHash, decide))
  }

  /** rotate() inside the caller's transaction (a password change swaps the hash first). */
  async rotateIn<T>(
    tx: Tx,
    tokenHash: string,
    decide: (state: RotationState) => { action: RotationAction; result: T },
  ): Promise<T | null> {
    // The token -> family link never changes, so it is safe to follow it in the statement
    // that takes the lock.
    const fams = await tx.$queryRaw<
      {
        id: string
        user_id: string
        email: string
        email_verified: boolean
        revoked_at: Date | null
        expires_at: Date
        refresh_window_start: Date | null
        refresh_count: number
        token_id: string
      }[]
    >`
      SELECT f.id, f.user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, f.revoked_at, f.expires_at, f.refresh_window_start, f.refresh_count,
             t.id AS token_id
      FROM auth.refresh_tokens t
      JOIN auth.token_families f ON f.id = t.family_id
      JOIN auth.users u ON u.id = f.user_id
      WHERE t.token_hash = ${tokenHash}
      FOR UPDATE OF f`
    const fam = fams[0]
    if (!fam) return null
    // A new statement, so a new snapshot: it sees what the transaction we may have waited
    // for committed. clock_timestamp(), not now(): the decision is about this instant, not
    // about when our transaction began queueing.
    const tokens = await tx.$queryRaw<(TokenRow & { now: Date })[]>`
      SELECT id, parent_id, created_at, spent_at, expires_at, clock_timestamp() AS now
      FROM auth.refresh_tokens
      WHERE family_id = ${fam.id}::uuid AND (id = ${fam.token_id}::uuid OR spent_at IS NULL)`
    const presentedRow = tokens.find((t) => t.id === fam.token_id)
    if (!presentedRow) throw new Error('presented token vanished under the family lock')
    const liveRow = tokens.find((t) => t.spent_at === null) ?? null
    const now = presentedRow.now

    const { action, result } = decide({
      family: {
        id: fam.id,
        userId: fam.user_id,
        email: fam.email,
        emailVerified: fam.email_verified,
        revokedAt: fam.revoked_at,
        expiresAt: fam.expires_at,
        refreshWindow: { start: fam.refresh_window_start, count: fam.refresh_count },
      },
      presented: toTokenState(presentedRow),
      live: liveRow ? toTokenState(liveRow) : null,
      now,
    })

    if (action.type === 'mint-child') {
      // Spend, mint and touch in one round trip; the child exists only if the spend did.
      const touched = await tx.$executeRaw`
        WITH spent AS (
          UPDATE auth.refresh_tokens SET spent_at = ${now}
          WHERE id = ${fam.token_id}::uuid AND spent_at IS NULL
          RETURNING id
        ), child AS (
          INSERT INTO auth.refresh_tokens (id, token_hash, family_id, parent_id, created_at, expires_at)
          SELECT ${randomUUID()}::uuid, ${action.childHash}, ${fam.id}::uuid, spent.id, ${now}, ${action.childExpiresAt}
          FROM spent
          RETURNING id
        )
        UPDATE auth.token_families
        SET last_used_at = ${now},
            refresh_window_start = ${action.refreshWindow.start}, refresh_count = ${action.refreshWindow.count}
        WHERE id = ${fam.id}::uuid AND EXISTS (SELECT 1 FROM child)`
      if (touched !== 1) throw new Error('presented token was spent concurrently despite the family lock')
    } else if (action.type === 'revoke') {
      await revokeIn(tx, fam.id, action.reason)
    }
    return result
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
    return this.prisma.$executeRaw`
      DELETE FROM auth.token_families WHERE id IN (
        SELECT id FROM auth.token_families
        WHERE revoked_at < now() - make_interval(secs => ${args.endedKeepSec})
           OR expires_at < now() - make_interval(secs => ${args.endedKeepSec})
           OR last_used_at < now() - make_interval(secs => ${args.idleKeepSec})
        LIMIT ${args.limit}
        FOR UPDATE SKIP LOCKED)`
  }

  /**
   * Cleanup, one batch: deletes up to `limit` spent tokens of surviving families once they are
   * `keepSec` past the expiry they would have had unspent. Until then a spent token still
   * proves theft when presented. The family row is locked with the token (skipping families a
   * rotation holds), so a rotation never sees its token vanish halfway.
   */
  async deleteSpentTokens(args: { keepSec: number; limit: number }): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM auth.refresh_tokens WHERE id IN (
        SELECT t.id FROM auth.refresh_tokens t
        JOIN auth.token_families f ON f.id = t.family_id
        WHERE t.spent_at IS NOT NULL AND t.expires_at < now() - make_interval(secs => ${args.keepSec})
        LIMIT ${args.limit}
        FOR UPDATE OF t, f SKIP LOCKED)`
  }

  /**
   * Which of `ids` are revoked, with when: a notification names a family, and only the row
   * says whether it really was revoked (any role that can connect can send a notification).
   */
  async revokedAmong(ids: string[]): Promise<{ id: string; revokedAt: Date }[]> {
    const rows = await this.prisma.$queryRaw<{ id: string; revoked_at: Date }[]>`
      SELECT id, revoked_at FROM auth.token_families WHERE id = ANY(${ids}::uuid[]) AND revoked_at IS NOT NULL`
    return rows.map((r) => ({ id: r.id, revokedAt: r.revoked_at }))
  }

  /**
   * Families revoked after `since` (or, when null, within the last `lookbackMs` of the
   * database's clock), and that clock, in one round trip.
   */
  async revokedSince(
    since: Date | null,
    lookbackMs: number,
  ): Promise<{ now: Date; families: { id: string; revokedAt: Date }[] }> {
    const rows = await this.prisma.$queryRaw<{ now: Date; id: string | null; revoked_at: Date | null }[]>`
      SELECT now() AS now, f.id, f.revoked_at
      FROM (SELECT 1) AS one
      LEFT JOIN auth.token_families f
        ON f.revoked_at > COALESCE(${since}::timestamptz, now() - make_interval(secs => ${lookbackMs / 1000}))`
    return {
      now: rows[0]!.now,
      families: rows.flatMap((r) => (r.id && r.revoked_at ? [{ id: r.id, revokedAt: r.revoked_at }] : [])),
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
