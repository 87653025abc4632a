// The steps of login, refresh and logout around the pure policy and the token store.
// Errors leave here as catalogued ApiErrors; database hiccups become 503, never a logout.
import { ApiError } from '../errors.js'
import { guard } from '../db/transient.js'
import { childExpiry, decideRotation } from './policy.js'
import { deriveChildToken, hashRefreshToken, isWellFormedRefreshToken, newRefreshToken } from './refresh-token.js'
import type { RevokeReason, RotationAction, SessionMeta, TokenStore } from './token-store.js'

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

export class SessionService {
  constructor(
    private readonly store: TokenStore,
    private readonly settings: SessionSettings,
    private readonly denylist: RevocationSink,
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
    return { userId: user.id, email: user.email, familyId, refreshToken }
  }

  async refresh(presentedToken: string): Promise<IssuedSession> {
    const child = deriveChildToken(presentedToken, this.settings.secret)
    const outcome = isWellFormedRefreshToken(presentedToken)
      ? await guard(() =>
          this.store.rotate(hashRefreshToken(presentedToken), (state) => {
            const decision = decideRotation({
              presented: state.presented,
              live: state.live,
              family: state.family,
              now: state.now,
              windowMs: this.settings.reuseWindowSec * 1000,
            })
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
            const { id: familyId, userId, email } = state.family
            return { action, result: { kind: decision.kind, familyId, userId, email } }
          }),
        )
      : null
    // Never issued by us (random, truncated, forged): no family was touched.
    if (!outcome) throw new ApiError('invalid_refresh_token')

    switch (outcome.kind) {
      case 'rotate':
      case 'replay':
        return { userId: outcome.userId, email: outcome.email, familyId: outcome.familyId, refreshToken: child }
      case 'reuse':
        this.denylist.add(outcome.familyId)
        throw new ApiError('refresh_token_reused')
      case 'revoked':
        throw new ApiError('session_revoked')
      case 'expired':
        throw new ApiError('session_expired')
    }
  }

  /** Revokes the family a refresh token belongs to; false when the token is unknown. */
  async revokeByRefreshToken(token: string, reason: RevokeReason): Promise<boolean> {
    const found = isWellFormedRefreshToken(token)
      ? await guard(() => this.store.findFamilyIdByHash(hashRefreshToken(token)))
      : null
    if (!found) return false
    await this.revoke(found.familyId, reason)
    return true
  }

  async revoke(familyId: string, reason: RevokeReason, userId?: string): Promise<void> {
    await guard(() => this.store.revokeFamily(familyId, reason, userId))
    this.denylist.add(familyId)
  }
}
