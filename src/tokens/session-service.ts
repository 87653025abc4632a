// The steps of login, refresh and logout around the pure policy and the token store.
// Errors leave here as catalogued ApiErrors; database hiccups become 503, never a logout.
// Every revocation goes through the token store, which notifies all instances at commit, and
// is added to this instance's denylist at once.
import { ApiError } from '../errors.js'
import { guard } from '../db/transient.js'
import type { AuditEvent } from '../audit/events.js'
import type { WindowCounter } from '../limits/policy.js'
import { childExpiry, decideRotation, type RotationDecision } from './policy.js'
import { deriveChildToken, hashRefreshToken, isWellFormedRefreshToken, newRefreshToken } from './refresh-token.js'
import type { LiveFamily, RevokeReason, RevokedFamily, RotationAction, SessionMeta, TokenStore } from './token-store.js'

export interface SessionSettings {
  ttlSec: number
  sessionMaxSec: number
  reuseWindowSec: number
  secret: Buffer
}

export interface IssuedSession {
  userId: string
  email: string
  familyId: string
  refreshToken: string
}

export interface RevocationSink {
  add(familyId: string): void
}

export interface SessionEvents {
  record(...events: AuditEvent[]): void
  recordNow(...events: AuditEvent[]): Promise<void>
}

export interface SessionServiceOptions {
  events: SessionEvents
  /** successful refreshes per family per window; null: unlimited */
  refreshLimit: WindowCounter | null
}

const NO_META: SessionMeta = { ip: null, userAgent: null }

interface RefreshOutcome {
  kind: RotationDecision['kind'] | 'limited'
  /** for `limited`: when the session's window reopens */
  retryAfterSec: number
  familyId: string
  userId: string
  email: string
}

export class SessionService {
  constructor(
    private readonly store: TokenStore,
    private readonly settings: SessionSettings,
    private readonly denylist: RevocationSink,
    private readonly opts: SessionServiceOptions,
  ) {}

  async start(user: { id: string; email: string }, meta: SessionMeta): Promise<IssuedSession> {
    const refreshToken = newRefreshToken()
    const { familyId } = await guard(() =>
      this.store.createFamily({
        userId: user.id,
        tokenHash: hashRefreshToken(refreshToken),
        ttlSec: this.settings.ttlSec,
        sessionMaxSec: this.settings.sessionMaxSec,
        meta,
      }),
    )
    this.opts.events.record({ type: 'login_success', userId: user.id, familyId, ...meta })
    return { userId: user.id, email: user.email, familyId, refreshToken }
  }

  async refresh(presentedToken: string, meta: SessionMeta = NO_META): Promise<IssuedSession> {
    const child = deriveChildToken(presentedToken, this.settings.secret)
    const outcome = isWellFormedRefreshToken(presentedToken)
      ? await guard(() =>
          this.store.rotate(hashRefreshToken(presentedToken), (state): { action: RotationAction; result: RefreshOutcome } => {
            const decision = decideRotation({
              presented: state.presented,
              live: state.live,
              family: state.family,
              now: state.now,
              windowMs: this.settings.reuseWindowSec * 1000,
            })
            const { id: familyId, userId, email } = state.family
            // Only answers that hand out tokens are limited; reuse, revoked and expired are
            // final and must always take effect.
            if (decision.kind === 'rotate' || decision.kind === 'replay') {
              const allowance = this.opts.refreshLimit?.take(familyId, state.now.getTime())
              if (allowance && !allowance.allowed) {
                return { action: { type: 'none' }, result: { kind: 'limited', retryAfterSec: allowance.retryAfterSec, familyId, userId, email } }
              }
            }
            const action: RotationAction =
              decision.kind === 'rotate'
                ? {
                    type: 'mint-child',
                    childHash: hashRefreshToken(child),
                    childExpiresAt: childExpiry(state.now, this.settings.ttlSec * 1000, state.family.expiresAt),
                  }
                : decision.kind === 'reuse'
                  ? { type: 'revoke', reason: 'reuse_detected' }
                  : { type: 'none' }
            return { action, result: { kind: decision.kind, retryAfterSec: 0, familyId, userId, email } }
          }),
        )
      : null
    // Never issued by us (random, truncated, forged): no family was touched.
    if (!outcome) throw new ApiError('invalid_refresh_token')

    const { familyId, userId } = outcome
    switch (outcome.kind) {
      case 'rotate':
      case 'replay':
        this.opts.events.record({ type: 'refresh', userId, familyId, reason: outcome.kind === 'replay' ? 'replay' : null, ...meta })
        return { userId, email: outcome.email, familyId, refreshToken: child }
      case 'limited':
        // Nothing was spent or minted: the same token works once the window has passed.
        throw new ApiError('too_many_requests', 'Too many refreshes for this session; retry after Retry-After.', outcome.retryAfterSec)
      case 'reuse':
        this.denylist.add(familyId)
        await this.opts.events.recordNow(
          { type: 'reuse_detected', userId, familyId, ...meta },
          { type: 'family_revoked', userId, familyId, reason: 'reuse_detected', ...meta },
        )
        throw new ApiError('refresh_token_reused')
      case 'revoked':
        throw new ApiError('session_revoked')
      case 'expired':
        throw new ApiError('session_expired')
    }
  }

  /** The family a refresh token belongs to, or null for a token we never issued. */
  async familyOf(token: string): Promise<string | null> {
    if (!isWellFormedRefreshToken(token)) return null
    const found = await guard(() => this.store.findFamilyIdByHash(hashRefreshToken(token)))
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
    const revoked = await guard(() => this.store.revokeFamily(familyId, reason, userId))
    this.denylist.add(familyId)
    if (revoked) await this.revoked([revoked], reason, meta)
    return revoked !== null
  }

  /** DELETE /sessions/:id: someone else's family is `not_found`, exactly like a missing one. */
  async revokeOwn(userId: string, familyId: string, reason: RevokeReason, meta: SessionMeta): Promise<'revoked' | 'already_revoked' | 'not_found'> {
    const result = await guard(() => this.store.revokeOwnFamily(userId, familyId, reason))
    if (result.outcome === 'revoked') {
      this.denylist.add(familyId)
      await this.revoked([result.family], reason, meta)
    }
    return result.outcome
  }

  /** Revokes every family of a user but `keepFamilyId`; returns the ids revoked. */
  async revokeAll(userId: string, reason: RevokeReason, keepFamilyId: string | null, meta: SessionMeta): Promise<string[]> {
    const revoked = await guard(() => this.store.revokeUserFamilies(userId, reason, keepFamilyId))
    for (const f of revoked) this.denylist.add(f.id)
    await this.revoked(revoked, reason, meta)
    return revoked.map((f) => f.id)
  }

  list(userId: string): Promise<LiveFamily[]> {
    return guard(() => this.store.listLiveFamilies(userId))
  }

  private async revoked(families: RevokedFamily[], reason: RevokeReason, meta: SessionMeta): Promise<void> {
    if (families.length === 0) return
    await this.opts.events.recordNow(
      ...families.map((f): AuditEvent => ({ type: 'family_revoked', userId: f.userId, familyId: f.id, reason, ...meta })),
    )
  }
}
