// Login and password change: the failure counter (per account and client IP) around argon2,
// rehashing on login when the configured cost has changed, and the session steps of a
// password change.
//
// An unknown address and a wrong password take the same path: one statement for the counters
// (keyed by the address, whether or not it has an account, and the client's IP) and the user
// lookup, one argon2 verify (against a dummy hash when there is no user), a background audit
// write. Same answer, same cost. A success adds one statement: the session and the counters'
// reset.
import type { SessionClaims } from './access-claims.js'
import { ApiError, IpLimited } from '../errors.js'
import type { AuthMetrics, LoginOutcome } from '../metrics.js'
import { normaliseEmail } from '../users/email.js'
import { EmailTakenError, type UserRecord, type UserStore } from '../users/user-store.js'
import type { IpLimit, LoginAttemptStore } from '../limits/login-attempt-store.js'
import type { AccountCeiling } from '../limits/account-ceiling.js'
import type { Proof } from '../limits/proof-of-work.js'
import { attemptKey } from '../limits/policy.js'
import type { IssuedSession, SessionEvents, SessionService } from '../tokens/session-service.js'
import type { SessionMeta } from '../tokens/token-store.js'
import type { PasswordHasher } from './password.js'
import { hasSecondFactor, type SecondFactors } from '../mfa/factor-store.js'
import { passwordClaims } from '../mfa/methods.js'

export interface AccountServiceDeps {
  users: UserStore
  passwords: PasswordHasher
  attempts: LoginAttemptStore
  /** the per-account ceiling across all addresses: a proof of work past it */
  ceiling: AccountCeiling
  sessions: SessionService
  events: SessionEvents
  metrics: Pick<AuthMetrics, 'login'>
  log: { warn(obj: object, msg: string): void }
  /** unverified addresses cannot log in (REQUIRE_VERIFIED_EMAIL) */
  requireVerifiedEmail?: boolean
  /**
   * After the right password of an account with a second factor: the 401 mfa_required to answer
   * instead of a session (MfaService.challengeLogin), the password's counters reset with it;
   * null when the password changed meanwhile.
   */
  challengeSecondFactor(user: UserRecord, factors: SecondFactors, resetAttempts: string[], claims: SessionClaims): Promise<ApiError | null>
  /** ms since the epoch: the session's auth_time */
  now?: () => number
}

export interface PasswordChange {
  userId: string
  /** the session making the change (the access token's sid); it stays logged in */
  familyId: string
  /** that session's refresh token, rotated so the caller gets a fresh pair */
  refreshToken: string
  currentPassword: string
  newPassword: string
  meta: SessionMeta
}

export class AccountService {
  constructor(private readonly d: AccountServiceDeps) {}

  /** A new account; 409 email_taken when the address has one already. */
  async register(rawEmail: string, password: string, meta: SessionMeta): Promise<{ id: string; email: string }> {
    const email = normaliseEmail(rawEmail)
    if (!email) throw new ApiError('invalid_email')
    const hash = await this.d.passwords.hash(password)
    let user: UserRecord
    try {
      user = await this.d.users.create(email, hash)
    } catch (err) {
      if (err instanceof EmailTakenError) throw new ApiError('email_taken')
      throw err
    }
    this.d.events.record({ type: 'registered', userId: user.id, ...meta })
    return { id: user.id, email: user.email }
  }

  /**
   * A new session, or 401 invalid_credentials, or 429 while the address is locked for this
   * client, or 401 proof_of_work_required while the account needs a (harder) proof than
   * `proof`. The session starts only if the password just verified is still the account's
   * (createFamily's condition): a login racing a password change either finishes before the
   * change, whose sweep then revokes it, or fails.
   */
  async login(
    rawEmail: string,
    password: string,
    meta: SessionMeta,
    proof: Proof | null = null,
    claims: SessionClaims = {},
    ipLimit: IpLimit | null = null,
  ): Promise<IssuedSession> {
    const email = normaliseEmail(rawEmail)
    const admission = await this.d.ceiling.admit(rawEmail, password, proof)
    const key = attemptKey(rawEmail, meta.ip ?? '')
    // One statement: the client address's request limit (when the route leaves it to this
    // statement), the account's count (a proof of work past its ceiling), this address's claim
    // (a lock after repeated failures), and the account's row.
    const gate = await this.d.attempts.open({ accountKey: admission.key, below: admission.below, attemptKey: key, email, ipLimit })
    // Refused before the login, as the route's limit would (no outcome counted, no audit row).
    if ('ipLimited' in gate) throw new IpLimited(ipLimit!.key, gate.retryAfterMs)
    const { user } = gate
    if (!gate.counted) {
      this.d.metrics.login('proof_of_work_required')
      throw this.d.ceiling.refuse(admission, gate.accountFailures)
    }
    if (!gate.decision.allowed) throw this.loginFailed('locked', user?.id ?? null, meta, lockedError(gate.decision.retryAfterSec))
    const ok = await this.d.passwords.verify(user?.passwordHash ?? null, password)
    if (!user || !ok) throw this.loginFailed('invalid_credentials', user?.id ?? null, meta)
    // After the password: only someone who has it learns that the address is unproved.
    if (this.d.requireVerifiedEmail && user.emailVerifiedAt === null) {
      this.d.events.record({ type: 'login_failure', userId: user.id, reason: 'email_not_verified', ...meta })
      throw new ApiError('email_not_verified')
    }
    // A second factor enrolled: a challenge to answer at POST /mfa/verify, not a session.
    if (hasSecondFactor(gate.factors)) {
      const challenge = await this.d.challengeSecondFactor(user, gate.factors, [key, admission.key], claims)
      if (!challenge) throw this.loginFailed('credentials_changed', user.id, meta)
      this.d.metrics.login('mfa_required')
      await this.rehashIfOutdated(user, password)
      throw challenge
    }
    // One statement: the session, if the password just verified is still the account's, and
    // the counters' reset with it.
    const sessionClaims: SessionClaims = { ...claims, ...passwordClaims((this.d.now ?? Date.now)()) }
    const session = await this.d.sessions.start(user, meta, { resetAttempts: [key, admission.key], claims: sessionClaims })
    if (!session) throw this.loginFailed('credentials_changed', user.id, meta)
    this.d.metrics.login('success')
    await this.rehashIfOutdated(user, password)
    return session
  }

  private loginFailed(reason: LoginOutcome, userId: string | null, meta: SessionMeta, error = new ApiError('invalid_credentials')): ApiError {
    this.d.metrics.login(reason)
    this.d.events.record({ type: 'login_failure', userId, reason, ...meta })
    return error
  }

  /**
   * Checks the current password (counted like a login failure, under the same lock), then in
   * one transaction: replaces the hash if it is still the one checked, rotates this session's
   * refresh token, and revokes every other session. A change that loses a race to another one
   * answers 403 and has spent nothing. A client that lost the answer can replay its old refresh
   * token within the reuse window to get the same new pair.
   */
  async changePassword(c: PasswordChange): Promise<IssuedSession> {
    let newHash: string | undefined
    // Twice at most: a concurrent re-hash of the same password (a login after a cost change)
    // replaces the hash without changing the password; checked again against it, the change
    // goes through.
    for (let attempt = 0; attempt < 2; attempt++) {
      const user = await this.d.users.findById(c.userId)
      if (!user) throw new ApiError('unauthorized')
      await this.checkCurrentPassword(user, c.currentPassword, c.familyId, c.meta)
      newHash ??= await this.d.passwords.hash(c.newPassword)
      const hash = newHash
      const session = await this.d.sessions.changeCredentials(c.familyId, c.refreshToken, 'password_changed', c.meta, (tx) =>
        this.d.users.changePassword(tx, user.id, user.passwordHash, hash),
      )
      if (session) {
        await this.d.events.recordNow({ type: 'password_changed', userId: user.id, familyId: c.familyId, ...c.meta })
        return session
      }
    }
    // Changed by a concurrent request since we read it: that one won; this one must not
    // overwrite it with a password checked against the old hash.
    throw new ApiError('invalid_current_password')
  }

  /**
   * The current password of a logged-in user (a password change, a change of address): counted
   * like a login failure when wrong, under the same lock; 403 invalid_current_password.
   */
  async checkCurrentPassword(user: UserRecord, password: string, familyId: string, meta: SessionMeta): Promise<void> {
    const key = attemptKey(user.email, meta.ip ?? '')
    const attempt = await this.d.attempts.claim(key)
    if (!attempt.allowed) throw lockedError(attempt.retryAfterSec)
    if (!(await this.d.passwords.verify(user.passwordHash, password))) {
      this.d.events.record({ type: 'password_change_failure', userId: user.id, familyId, ...meta })
      throw new ApiError('invalid_current_password')
    }
    await this.d.attempts.reset(key)
  }

  // When the configured argon2 cost has changed, the first successful login re-hashes the
  // password it has just verified. A failure here costs the upgrade, never the login.
  private async rehashIfOutdated(user: UserRecord, password: string): Promise<void> {
    if (!this.d.passwords.needsRehash(user.passwordHash)) return
    try {
      const hash = await this.d.passwords.hash(password)
      await this.d.users.rehash(user.id, user.passwordHash, hash)
    } catch (err) {
      this.d.log.warn({ err, userId: user.id }, 'password rehash failed; will retry on next login')
    }
  }
}

function lockedError(retryAfterSec: number): ApiError {
  return new ApiError('too_many_requests', 'Too many failed attempts for this account; retry after Retry-After.', retryAfterSec)
}
