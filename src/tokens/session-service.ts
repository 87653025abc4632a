// The steps of login, refresh and logout around the pure policy and the token store.
// Errors leave here as catalogued ApiErrors; database hiccups become 503, never a logout.
// Every revocation goes through the token store, which notifies all instances at commit, and
// is added to this instance's denylist at once.
import { ApiError } from '../errors.js'
import type { AuditEvent } from '../audit/events.js'
import type { AuthMetrics } from '../metrics.js'
import type { Tx } from '../db/client.js'
import type { SessionClaims } from '../auth/access-claims.js'
import { deriveChildToken, hashRefreshToken, isWellFormedRefreshToken, newRefreshToken } from './refresh-token.js'
import type { LiveFamily, RevokeReason, RevokedFamily, RotateArgs, RotationResult, SessionMeta, TokenStore } from './token-store.js'

export interface SessionSettings {
  ttlSec: number
  sessionMaxSec: number
  reuseWindowSec: number
  secret: Buffer
}

export interface IssuedSession {
  userId: string
  email: string
  /** for the access token's email_verified claim */
  emailVerified: boolean
  familyId: string
  refreshToken: string
  /** fixed when the session started; every access token of the session carries them */
  claims: SessionClaims
}

export interface StartOptions {
  /** failed-login counters deleted with the session, in its statement (a login's) */
  resetAttempts?: string[]
  /** claims fixed for the session's lifetime (how the user authenticated, the client) */
  claims?: SessionClaims
  /** inside a caller's transaction (a second factor spent with the session's start) */
  tx?: Tx
  /** the login_success row's reason: which second factor, if any */
  reason?: string
}

export interface RevocationSink {
  add(familyId: string, reason: RevokeReason): void
}

export interface SessionEvents {
  record(...events: AuditEvent[]): void
  recordNow(...events: AuditEvent[]): Promise<void>
  /** a time for an event whose row the caller's own statement writes, in this instance's order */
  stamp(): Date
  /** logs events whose rows the caller's own statement has written */
  logged(...events: AuditEvent[]): void
}

export interface SessionServiceOptions {
  events: SessionEvents
  metrics: Pick<AuthMetrics, 'refresh'>
  /** rotations per family per window; null: unlimited (operator commands never refresh) */
  refreshLimit: { max: number; windowSec: number } | null
}

const NO_META: SessionMeta = { ip: null, userAgent: null }


/** Thrown inside a transaction to undo it; carries why. */
class Rollback extends Error {
  constructor(readonly outcome: RotationResult | null) {
    super('rolled back')
  }
}

export class SessionService {
  constructor(
    private readonly store: TokenStore,
    private readonly settings: SessionSettings,
    private readonly denylist: RevocationSink,
    private readonly opts: SessionServiceOptions,
  ) {}

  /**
   * Starts a session for a user whose password was just checked, if the credentials are still
   * the version that check saw; null (nothing created) when they changed meanwhile. The failed-
   * login counters `resetAttempts` are deleted in the same statement, if the session starts.
   */
  async start(
    user: { id: string; email: string; credentialsVersion: number; emailVerifiedAt: Date | null },
    meta: SessionMeta,
    { resetAttempts = [], claims = {}, tx, reason }: StartOptions = {},
  ): Promise<IssuedSession | null> {
    const refreshToken = newRefreshToken()
    // The audit row is written by the session's own statement: a login costs no write of its own.
    const loggedAt = this.opts.events.stamp()
    const created = await this.store.createFamily({
      userId: user.id,
      credentialsVersion: user.credentialsVersion,
      tokenHash: hashRefreshToken(refreshToken),
      ttlSec: this.settings.ttlSec,
      sessionMaxSec: this.settings.sessionMaxSec,
      meta,
      resetAttempts,
      claims,
      audit: { type: 'login_success', at: loggedAt, reason: reason ?? null },
    }, tx)
    if (!created) return null
    this.opts.events.logged({ type: 'login_success', userId: user.id, familyId: created.familyId, reason: reason ?? null, ...meta, createdAt: loggedAt })
    return { userId: user.id, email: user.email, emailVerified: user.emailVerifiedAt !== null, familyId: created.familyId, refreshToken, claims }
  }

  async refresh(presentedToken: string, meta: SessionMeta = NO_META): Promise<IssuedSession> {
    const child = deriveChildToken(presentedToken, this.settings.secret)
    const outcome = isWellFormedRefreshToken(presentedToken)
      ? await this.store.rotate(this.rotation(presentedToken, child, { revokeOnReuse: true, expectedFamily: null }))
      : null
    return this.settle(outcome, child, meta)
  }

  /**
   * A change of credentials made by a logged-in session, in one transaction: `change` swaps the
   * credentials first (false: they were not what the caller checked, and nothing happens:
   * null); then the session's refresh token rotates and every other session of the account is
   * revoked. A token that cannot rotate (reused, revoked, expired, limited, another session's)
   * undoes the change, and the answer is what a refresh would have answered: the caller never
   * loses a token whose child it was not given.
   */
  async changeCredentials(
    sessionId: string,
    presentedToken: string,
    reason: RevokeReason,
    meta: SessionMeta,
    change: (tx: Tx) => Promise<boolean>,
  ): Promise<IssuedSession | null> {
    if (!isWellFormedRefreshToken(presentedToken)) throw notThisSession()
    const child = deriveChildToken(presentedToken, this.settings.secret)
    let done: { outcome: RotationResult; revoked: RevokedFamily[] } | null
    try {
      done = await this.store.transaction(async (tx) => {
        if (!(await change(tx))) return null
        const outcome = await this.store.rotate(this.rotation(presentedToken, child, { revokeOnReuse: false, expectedFamily: sessionId }), tx)
        if (outcome?.kind !== 'rotate' && outcome?.kind !== 'replay') throw new Rollback(outcome)
        const revoked = await this.store.revokeUserFamilies(outcome.userId, reason, outcome.familyId, tx)
        return { outcome, revoked }
      })
    } catch (err) {
      if (!(err instanceof Rollback)) throw err
      // A token that is not this session's live one (or not ours at all) is a bad request, not
      // a failed authentication: the caller's access token was good.
      if (!err.outcome || err.outcome.kind === 'foreign') throw notThisSession()
      // Reuse is evidence of theft whatever the request was: the family is revoked now that
      // the change is undone.
      if (err.outcome?.kind === 'reuse') await this.store.revokeFamily(err.outcome!.familyId, 'reuse_detected')
      return this.settle(err.outcome, child, meta)
    }
    if (!done) return null
    for (const f of done.revoked) this.denylist.add(f.id, reason)
    await this.revoked(done.revoked, reason, meta)
    return this.settle(done.outcome, child, meta)
  }

  // What the store's single statement needs: the rule's parameters (the rule itself is policy.ts,
  // which auth.rotate_refresh_token implements in SQL). Only a rotation counts against the
  // per-session limit: a replay hands out nothing new, and limiting it could push its retry past
  // the reuse window and turn a rate limit into a theft alarm.
  private rotation(presentedToken: string, child: string, opts: { revokeOnReuse: boolean; expectedFamily: string | null }): RotateArgs {
    const limit = this.opts.refreshLimit
    return {
      tokenHash: hashRefreshToken(presentedToken),
      childHash: hashRefreshToken(child),
      ttlMs: this.settings.ttlSec * 1000,
      windowMs: this.settings.reuseWindowSec * 1000,
      limit: limit ? { max: limit.max, windowMs: limit.windowSec * 1000 } : null,
      ...opts,
    }
  }

  // What the caller sees of an outcome whose database effects have been made.
  private async settle(outcome: RotationResult | null, child: string, meta: SessionMeta): Promise<IssuedSession> {
    this.opts.metrics.refresh(outcome?.kind ?? 'unknown')
    // Never issued by us (random, truncated, forged): no family was touched.
    if (!outcome) throw new ApiError('invalid_refresh_token')
    const { familyId, userId } = outcome
    switch (outcome.kind) {
      case 'rotate':
      case 'replay':
        this.opts.events.record({ type: 'refresh', userId, familyId, reason: outcome.kind === 'replay' ? 'replay' : null, ...meta })
        return { userId, email: outcome.email, emailVerified: outcome.emailVerified, familyId, refreshToken: child, claims: outcome.claims }
      case 'limited':
        // Nothing was spent or minted: the same token works once the window has passed.
        throw new ApiError('too_many_requests', 'Too many refreshes for this session; retry after Retry-After.', outcome.retryAfterSec)
      case 'reuse':
        this.denylist.add(familyId, 'reuse_detected')
        await this.opts.events.recordNow(
          { type: 'reuse_detected', userId, familyId, ...meta },
          { type: 'family_revoked', userId, familyId, reason: 'reuse_detected', ...meta },
        )
        throw new ApiError('refresh_token_reused')
      case 'revoked':
        throw new ApiError('session_revoked')
      case 'expired':
        throw new ApiError('session_expired')
      case 'foreign':
        throw notThisSession()
    }
  }

  /**
   * Logout of one session: the one a refresh token names if it names one, else the one of the
   * access token (verified only then, so a stale access token beside a good refresh token does
   * not stand in the way). 401 when neither names a session.
   */
  async logoutSession(refreshToken: string | null, accessClaims: (() => { sub: string; sid: string }) | null, meta: SessionMeta): Promise<void> {
    if (refreshToken && (await this.revokeByRefreshToken(refreshToken, 'logout', meta))) return
    if (accessClaims === null) throw new ApiError(refreshToken ? 'invalid_refresh_token' : 'unauthorized')
    const { sub, sid } = accessClaims()
    await this.revoke(sid, 'logout', sub, meta)
  }

  /** Logout of every session of the caller's account, or of every other one. */
  logoutAccount(caller: { sub: string; sid: string }, scope: 'all' | 'others', meta: SessionMeta): Promise<string[]> {
    return this.revokeAll(caller.sub, 'logout', scope === 'others' ? caller.sid : null, meta)
  }

  /** The family a refresh token belongs to, or null for a token we never issued. */
  async familyOf(token: string): Promise<string | null> {
    if (!isWellFormedRefreshToken(token)) return null
    const found = await this.store.findFamilyIdByHash(hashRefreshToken(token))
    return found?.familyId ?? null
  }

  /** Revokes the family a refresh token belongs to; false when the token is unknown. */
  async revokeByRefreshToken(token: string, reason: RevokeReason, meta: SessionMeta = NO_META): Promise<boolean> {
    const familyId = await this.familyOf(token)
    if (!familyId) return false
    await this.revoke(familyId, reason, undefined, meta)
    return true
  }

  /** Revokes one family (only if it is `userId`'s, when given); idempotent. True when this call revoked it. */
  async revoke(familyId: string, reason: RevokeReason, userId?: string, meta: SessionMeta = NO_META): Promise<boolean> {
    const revoked = await this.store.revokeFamily(familyId, reason, userId)
    this.denylist.add(familyId, reason)
    if (revoked) await this.revoked([revoked], reason, meta)
    return revoked !== null
  }

  /** DELETE /sessions/:id: someone else's family is `not_found`, exactly like a missing one. */
  async revokeOwn(userId: string, familyId: string, reason: RevokeReason, meta: SessionMeta): Promise<'revoked' | 'already_revoked' | 'not_found'> {
    const result = await this.store.revokeOwnFamily(userId, familyId, reason)
    if (result.outcome === 'revoked') {
      this.denylist.add(familyId, reason)
      await this.revoked([result.family], reason, meta)
    }
    return result.outcome
  }

  /** Revokes every family of a user but `keepFamilyId`; returns the ids revoked. */
  async revokeAll(userId: string, reason: RevokeReason, keepFamilyId: string | null, meta: SessionMeta): Promise<string[]> {
    const revoked = await this.store.revokeUserFamilies(userId, reason, keepFamilyId)
    for (const f of revoked) this.denylist.add(f.id, reason)
    await this.revoked(revoked, reason, meta)
    return revoked.map((f) => f.id)
  }

  /**
   * A change of credentials made without a session (a password reset, the undoing of a change
   * of address), in one transaction: `change` makes it and names the account (null: nothing
   * happens), then every session of that account is revoked, each notified to every instance
   * at commit and denied here at once.
   */
  async revokeAllAfter<T>(reason: RevokeReason, meta: SessionMeta, change: (tx: Tx) => Promise<{ userId: string; value: T } | null>): Promise<T | null> {
    const done = await this.store.transaction(async (tx) => {
      const changed = await change(tx)
      if (!changed) return null
      const revoked = await this.store.revokeUserFamilies(changed.userId, reason, null, tx)
      return { changed, revoked }
    })
    if (!done) return null
    for (const f of done.revoked) this.denylist.add(f.id, reason)
    await this.revoked(done.revoked, reason, meta)
    return done.changed.value
  }

  /**
   * The session re-authenticated (a step-up): its claims become `claims` for every access token
   * issued from now on. 401 session_revoked when it has ended.
   */
  async reauthenticated(familyId: string, userId: string, claims: SessionClaims, tx?: Tx): Promise<SessionClaims> {
    const updated = await this.store.updateClaims(familyId, userId, claims, tx)
    if (!updated) throw new ApiError('session_revoked')
    return updated
  }

  /** RFC 7662 for a refresh token: its session while it is the family's live token, else null. */
  async liveSessionOfRefreshToken(token: string) {
    return isWellFormedRefreshToken(token) ? this.store.liveSessionOf(hashRefreshToken(token)) : null
  }

  /** The session a refresh token (spent or live) belongs to, with its claims; null for a token we never issued. */
  async sessionOfRefreshToken(token: string) {
    return isWellFormedRefreshToken(token) ? this.store.familyOfToken(hashRefreshToken(token)) : null
  }

  /** Whether a session is still live, read from its row: never the eventually-consistent denylist. */
  isLive(familyId: string): Promise<boolean> {
    return this.store.isLiveFamily(familyId)
  }

  list(userId: string): Promise<LiveFamily[]> {
    return this.store.listLiveFamilies(userId)
  }

  private async revoked(families: RevokedFamily[], reason: RevokeReason, meta: SessionMeta): Promise<void> {
    if (families.length === 0) return
    await this.opts.events.recordNow(
      ...families.map((f): AuditEvent => ({ type: 'family_revoked', userId: f.userId, familyId: f.id, reason, ...meta })),
    )
  }
}

const notThisSession = () => new ApiError('invalid_request', 'The refresh token does not belong to this session.')
