// Second factors: the authenticator app (RFC 6238) with its recovery codes, the second step of a
// password login, re-authentication (step-up) and the freshness sensitive actions need.
//
// - Enrolment: a new secret, encrypted at rest, shown once as an otpauth:// URI and a QR code;
//   confirmed by a first code, which also makes the ten recovery codes (shown once, kept as
//   keyed hashes).
// - Login: a password login of an account with a second factor gets a single-use challenge
//   (mfa_challenges, any instance) instead of tokens; POST /mfa/verify answers it with a code, a
//   recovery code or a passkey, and only then does the session start, in the transaction that
//   spends the challenge and the code.
// - Guessing codes is limited like guessing passwords, with the same machinery under keys of
//   its own: a lock per account and client IP that doubles, and past a number of failures of the
//   account from every address a proof of work per guess: never a lock anyone else can cause.
// - A code is accepted once: its time step is recorded by the statement that accepts it, and
//   only a later step is accepted after it.
import { randomBytes } from 'node:crypto'
import { ApiError, SecondFactorRequired } from '../errors.js'
import type { AuthSettings } from '../options.js'
import type { Tx } from '../db/client.js'
import type { AccessClaims, SessionClaims } from '../auth/access-claims.js'
import type { UserRecord, UserStore } from '../users/user-store.js'
import type { Mailer } from '../mail/mailer.js'
import type { MailKind } from '../mail/templates.js'
import type { LoginAttemptStore } from '../limits/login-attempt-store.js'
import type { AccountCeiling } from '../limits/account-ceiling.js'
import type { Proof } from '../limits/proof-of-work.js'
import { mfaAccountKey, mfaAttemptKey } from '../limits/policy.js'
import type { IssuedSession, SessionEvents, SessionService } from '../tokens/session-service.js'
import type { SessionMeta } from '../tokens/token-store.js'
import type { AccountService } from '../auth/account-service.js'
import type { ChallengeStore } from './challenge-store.js'
import { hasSecondFactor, type FactorStore, type SecondFactors } from './factor-store.js'
import type { AssertionCredential, PasskeyService, VerifiedAssertion } from './passkey-service.js'
import { insufficientAuthentication, reauthenticatedClaims, twoFactorClaims, passkeyClaims, unmetNeeds, type AuthenticationNeeds, type Factor } from './methods.js'
import { matchTotp, newTotpSecret, otpauthUri, base32Encode } from './totp.js'
import { newRecoveryCodes, normaliseRecoveryCode, recoveryCodeHash } from './recovery-codes.js'
import { open, seal } from './secret-box.js'

/** What answers a second-factor question. */
export type FactorAnswer = { code: string } | { recoveryCode: string } | { passkey: AssertionCredential }

export interface MfaServiceDeps {
  settings: Pick<AuthSettings, 'mfa' | 'emailVerification'>
  factors: FactorStore
  challenges: ChallengeStore
  passkeys: PasskeyService
  users: UserStore
  accounts: AccountService
  attempts: LoginAttemptStore
  ceiling: AccountCeiling
  sessions: SessionService
  mailer: Mailer
  events: SessionEvents
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>
  /** ms since the epoch: TOTP steps, auth_time, the age of an authentication */
  now: () => number
}

export interface TotpEnrolment {
  /** the secret in base32, for typing into an app by hand */
  secret: string
  otpauthUri: string
  /** the URI as a QR code: an SVG image as a data: URL */
  qrCode: string
}

/** A session's claims after a re-authentication, with what signing its access token needs. */
export interface Reauthenticated {
  userId: string
  email: string
  emailVerified: boolean
  familyId: string
  claims: SessionClaims
}

export class MfaService {
  constructor(private readonly d: MfaServiceDeps) {}

  /** What the account has, for GET /mfa. */
  status(userId: string) {
    return this.d.factors.factorsOf(userId)
  }

  /**
   * Sensitive actions (a password or address change, disabling a factor, removing a passkey, new
   * recovery codes, logging out everywhere): with a second factor enrolled, the session must
   * have used one within mfa.stepUpMaxAgeSec. `enrolling` (adding a factor): without one, the
   * session's authentication must be that recent at least, so a stolen old session cannot make
   * itself a factor the owner does not have. 401 insufficient_user_authentication otherwise,
   * with RFC 9470's challenge; the client re-authenticates (POST /reauthenticate) and retries.
   */
  async requireRecent(claims: AccessClaims, opts: { enrolling?: boolean } = {}): Promise<SecondFactors> {
    const factors = await this.d.factors.factorsOf(claims.sub)
    const maxAgeSec = this.d.settings.mfa.stepUpMaxAgeSec
    const needs: AuthenticationNeeds | null = hasSecondFactor(factors) ? { mfa: true, maxAgeSec } : opts.enrolling ? { maxAgeSec } : null
    const missing = needs && unmetNeeds(claims, needs, this.d.now())
    if (missing) throw insufficientAuthentication(missing)
    return factors
  }

  // ---- the authenticator app -------------------------------------------------------------

  async startTotp(caller: AccessClaims): Promise<TotpEnrolment> {
    await this.requireRecent(caller, { enrolling: true })
    const secret = newTotpSecret()
    if (!(await this.d.factors.startEnrolment(caller.sub, this.seal(caller.sub, secret)))) throw new ApiError('mfa_already_enabled')
    // The label the app shows: the account's address, from its row (tokens carry none by default).
    const user = await this.d.users.findById(caller.sub)
    if (!user) throw new ApiError('unauthorized')
    const uri = otpauthUri({ issuer: this.d.settings.mfa.issuer, account: user.email, secret })
    // Loaded at the first enrolment, not by every instance as it starts.
    const { default: QRCode } = await import('qrcode')
    const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 })
    return { secret: base32Encode(secret), otpauthUri: uri, qrCode: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` }
  }

  /** The first code confirms the enrolment; the recovery codes are made, to be shown once. */
  async confirmTotp(caller: AccessClaims, code: string, meta: SessionMeta): Promise<string[]> {
    const row = await this.d.factors.totpOf(caller.sub)
    if (!row || row.confirmed) throw new ApiError('mfa_not_enabled', 'There is no enrolment to confirm: start one first.')
    const secret = this.open(caller.sub, row.secretCiphertext)
    const step = secret && matchTotp(secret, code, this.d.now(), row.lastUsedStep)
    if (step === null || step === undefined) throw new ApiError('invalid_mfa_code')
    const codes = newRecoveryCodes()
    const done = await this.d.transaction(async (tx) => {
      if (!(await this.d.factors.confirm(tx, caller.sub, row.secretCiphertext, step))) return false
      await this.d.factors.replaceRecoveryCodes(tx, caller.sub, codes.map((c) => this.recoveryHash(caller.sub, c)))
      return true
    })
    if (!done) throw new ApiError('mfa_not_enabled', 'The enrolment changed meanwhile: start again.')
    await this.d.events.recordNow({ type: 'mfa_enabled', userId: caller.sub, familyId: caller.sid, ...meta })
    await this.notify(caller.sub, 'mfa_enabled', meta)
    return codes
  }

  async disableTotp(caller: AccessClaims, meta: SessionMeta): Promise<void> {
    await this.requireRecent(caller)
    const removed = await this.d.transaction(async (tx) => {
      if (!(await this.d.factors.removeTotp(tx, caller.sub))) return false
      await this.d.factors.dropOrphanRecoveryCodes(tx, caller.sub)
      return true
    })
    if (!removed) throw new ApiError('mfa_not_enabled')
    await this.d.events.recordNow({ type: 'mfa_disabled', userId: caller.sub, familyId: caller.sid, ...meta })
    await this.notify(caller.sub, 'mfa_disabled', meta)
  }

  async regenerateRecoveryCodes(caller: AccessClaims, meta: SessionMeta): Promise<string[]> {
    const factors = await this.requireRecent(caller)
    if (!hasSecondFactor(factors)) throw new ApiError('mfa_not_enabled', 'Recovery codes stand in for a second factor: enrol one first.')
    const codes = newRecoveryCodes()
    await this.d.transaction((tx) => this.d.factors.replaceRecoveryCodes(tx, caller.sub, codes.map((c) => this.recoveryHash(caller.sub, c))))
    await this.d.events.recordNow({ type: 'recovery_codes_regenerated', userId: caller.sub, familyId: caller.sid, ...meta })
    await this.notify(caller.sub, 'recovery_codes_regenerated', meta)
    return codes
  }

  /** Removes one of the caller's passkeys (a sensitive action). */
  async removePasskey(caller: AccessClaims, id: string, meta: SessionMeta): Promise<void> {
    await this.requireRecent(caller)
    const removed = await this.d.transaction(async (tx) => {
      const gone = await this.d.passkeys.remove(tx, caller.sub, id)
      if (gone) await this.d.factors.dropOrphanRecoveryCodes(tx, caller.sub)
      return gone
    })
    if (!removed) throw new ApiError('passkey_not_found')
    await this.d.events.recordNow({ type: 'passkey_removed', userId: caller.sub, familyId: caller.sid, ...meta })
    await this.d.passkeys.notify(caller.sub, 'passkey_removed', meta)
  }

  // ---- login -------------------------------------------------------------------------------

  /**
   * After the right password, for an account with a second factor: the challenge to answer
   * (401 mfa_required), issued only while the password checked is still the account's; the
   * password's failure counters `resetAttempts` are reset with it. Null when the password
   * changed meanwhile.
   */
  async challengeLogin(user: UserRecord, factors: SecondFactors, resetAttempts: string[], claims: SessionClaims = {}): Promise<SecondFactorRequired | null> {
    const token = randomBytes(32).toString('base64url')
    const ttlSec = this.d.settings.mfa.challengeTtlSec
    const issued = await this.d.challenges.issueLogin({ token, userId: user.id, credentialsVersion: user.credentialsVersion, clientId: claims.client_id ?? null, ttlSec, resetAttempts })
    if (!issued) return null
    const methods = [...(factors.totp ? ['totp'] : []), ...(factors.passkeys && this.d.passkeys.enabled ? ['passkey'] : []), ...(factors.recoveryCodes ? ['recovery_code'] : [])]
    return new SecondFactorRequired(token, methods, ttlSec)
  }

  /** WebAuthn options for a passkey answering a login's challenge. */
  async passkeyOptions(challenge: string) {
    const row = await this.d.challenges.find(challenge, 'login')
    if (!row) throw new ApiError('invalid_mfa_challenge')
    return this.d.passkeys.secondFactorOptions(challenge, row.userId!)
  }

  /**
   * POST /mfa/verify: the second factor of a login. The session starts in the transaction that
   * spends the challenge and the code (or records the passkey's use), so each is used once on
   * every instance.
   */
  async verifyLogin(challenge: string, answer: FactorAnswer, proof: Proof | null, meta: SessionMeta): Promise<IssuedSession> {
    const row = await this.d.challenges.find(challenge, 'login')
    if (!row) throw new ApiError('invalid_mfa_challenge')
    const userId = row.userId!
    const checked = await this.check(userId, answer, proof, meta, row.webauthnChallenge)
    const user = await this.d.users.findById(userId)
    if (!user) throw new ApiError('invalid_mfa_challenge')
    const session = await this.d.transaction(async (tx) => {
      if (!(await checked.accept(tx))) throw this.failed(userId, meta, checked)
      if (!(await this.d.challenges.spend(challenge, 'login', tx))) throw new ApiError('invalid_mfa_challenge')
      // The password checked at login must still be the account's.
      const started = await this.d.sessions.start({ ...user, credentialsVersion: row.credentialsVersion! }, meta, {
        // The client the login named stays the session's (RFC 9068 client_id).
        claims: { ...(row.clientId ? { client_id: row.clientId } : {}), ...twoFactorClaims(checked.factor, this.d.now()) },
        resetAttempts: checked.resetAttempts,
        reason: checked.factor.kind,
        tx,
      })
      if (!started) throw new ApiError('invalid_mfa_challenge')
      return started
    })
    return session
  }

  /** POST /passkeys/login: a passkey alone, user verified, counts as both factors. */
  async passkeyLogin(credential: AssertionCredential, meta: SessionMeta, claims: SessionClaims = {}): Promise<IssuedSession> {
    const verified = await this.d.passkeys.verifyLogin(credential)
    const user = await this.d.users.findById(verified.passkey.userId)
    if (!user) throw new ApiError('invalid_passkey')
    if (this.d.settings.emailVerification.required && user.emailVerifiedAt === null) throw new ApiError('email_not_verified')
    return this.d.transaction(async (tx) => {
      if (!(await this.d.passkeys.complete(tx, verified, { challenge: verified.challenge }))) throw new ApiError('invalid_passkey')
      const started = await this.d.sessions.start(user, meta, { claims: { ...claims, ...passkeyClaims(verified.factor, this.d.now()) }, reason: 'passkey', tx })
      if (!started) throw new ApiError('invalid_passkey')
      return started
    })
  }

  // ---- re-authentication (step-up) ---------------------------------------------------------

  /**
   * POST /reauthenticate: the session proves a factor again, now. With a second factor enrolled
   * it must be one (a code, a recovery code or a passkey); without, the password. The session's
   * claims (amr, auth_time) change for every access token issued from now on.
   */
  async reauthenticate(caller: AccessClaims, answer: FactorAnswer | { password: string }, proof: Proof | null, meta: SessionMeta): Promise<Reauthenticated> {
    const user = await this.d.users.findById(caller.sub)
    if (!user) throw new ApiError('unauthorized')
    const factors = await this.d.factors.factorsOf(user.id)
    const now = this.d.now()
    let claims: SessionClaims
    if ('password' in answer) {
      if (hasSecondFactor(factors)) throw new ApiError('invalid_request', 'This account has a second factor: re-authenticate with it.')
      await this.d.accounts.checkCurrentPassword(user, answer.password, caller.sid, meta)
      claims = await this.d.sessions.reauthenticated(caller.sid, user.id, reauthenticatedClaims(caller, 'password', now))
    } else {
      if (!hasSecondFactor(factors)) throw new ApiError('invalid_request', 'This account has no second factor: re-authenticate with the password.')
      const checked = await this.check(user.id, answer, proof, meta, null)
      claims = await this.d.transaction(async (tx) => {
        if (!(await checked.accept(tx))) throw this.failed(user.id, meta, checked)
        return this.d.sessions.reauthenticated(caller.sid, user.id, reauthenticatedClaims(caller, checked.factor, now), tx)
      })
      if (checked.resetAttempts.length > 0) await this.d.attempts.reset(...checked.resetAttempts)
    }
    this.d.events.record({ type: 'reauthenticated', userId: user.id, familyId: caller.sid, ...meta })
    return { userId: user.id, email: user.email, emailVerified: user.emailVerifiedAt !== null, familyId: caller.sid, claims }
  }

  // ---- checking a factor -------------------------------------------------------------------

  /**
   * Checks an answer without spending it: what it proves, and how to spend it inside the
   * transaction that acts on it. A code or recovery code passes the guessing gate first (counted
   * in advance, like a password); a wrong one is refused here, counted. A passkey answers a
   * WebAuthn challenge: the login's (`webauthnChallenge`) or a passkey_login ceremony's.
   */
  private async check(
    userId: string,
    answer: FactorAnswer,
    proof: Proof | null,
    meta: SessionMeta,
    webauthnChallenge: string | null,
  ): Promise<{ factor: Factor; accept(tx: Tx): Promise<boolean>; resetAttempts: string[] }> {
    if ('passkey' in answer) {
      let verified: VerifiedAssertion & { challenge?: string }
      if (webauthnChallenge !== null) verified = await this.d.passkeys.verifyFor(userId, answer.passkey, webauthnChallenge)
      else {
        verified = await this.d.passkeys.verifyLogin(answer.passkey)
        if (verified.passkey.userId !== userId) throw new ApiError('invalid_passkey')
      }
      const spend = verified.challenge ? { challenge: verified.challenge } : null
      return { factor: verified.factor, accept: (tx) => this.d.passkeys.complete(tx, verified, spend), resetAttempts: [] }
    }
    const secretText = 'code' in answer ? answer.code : answer.recoveryCode
    const resetAttempts = await this.gate(userId, secretText, proof, meta)
    if ('code' in answer) {
      const row = await this.d.factors.totpOf(userId)
      const secret = row?.confirmed ? this.open(userId, row.secretCiphertext) : null
      const step = secret ? matchTotp(secret, answer.code, this.d.now(), row!.lastUsedStep) : null
      const factor: Factor = { kind: 'totp' }
      if (step === null) throw this.failed(userId, meta, { factor })
      return { factor, accept: (tx) => this.d.factors.acceptStep(tx, userId, step), resetAttempts }
    }
    const normalised = normaliseRecoveryCode(answer.recoveryCode)
    const factor: Factor = { kind: 'recovery_code' }
    if (normalised === null) throw this.failed(userId, meta, { factor })
    const hash = this.recoveryHash(userId, normalised)
    return { factor, accept: (tx) => this.d.factors.spendRecoveryCode(tx, userId, hash), resetAttempts }
  }

  /** The guessing gate of a code: the same statement and rules as a login's, under the factor's keys. */
  private async gate(userId: string, secret: string, proof: Proof | null, meta: SessionMeta): Promise<string[]> {
    const accountKey = mfaAccountKey(userId)
    const attemptKey = mfaAttemptKey(userId, meta.ip ?? '')
    const admission = await this.d.ceiling.admitKey(accountKey, secret, proof)
    const gate = await this.d.attempts.open({ accountKey, below: admission.below, attemptKey, email: null })
    if (!gate.counted) throw this.d.ceiling.refuse(admission, gate.accountFailures)
    if (!gate.decision.allowed) {
      throw new ApiError('too_many_requests', 'Too many wrong codes for this account; retry after Retry-After.', gate.decision.retryAfterSec)
    }
    return [attemptKey, accountKey]
  }

  private failed(userId: string, meta: SessionMeta, checked: { factor: Factor }): ApiError {
    this.d.events.record({ type: 'mfa_failure', userId, reason: checked.factor.kind, ...meta })
    return new ApiError(checked.factor.kind === 'passkey' ? 'invalid_passkey' : 'invalid_mfa_code')
  }

  // To the account's address as it is now (an access token's may be older).
  private async notify(userId: string, kind: MailKind, meta: SessionMeta): Promise<void> {
    const user = await this.d.users.findById(userId)
    if (user) this.d.mailer.send({ kind, to: user.email, userId, ip: meta.ip, time: new Date(this.d.now()) })
  }

  private seal(userId: string, secret: Buffer): string {
    return seal(this.d.settings.mfa.encryptionKey, secret, `totp\n${userId}`)
  }

  private open(userId: string, sealed: string): Buffer | null {
    return open(this.d.settings.mfa.encryptionKey, sealed, `totp\n${userId}`)
  }

  private recoveryHash(userId: string, code: string): string {
    return recoveryCodeHash(this.d.settings.mfa.recoveryCodeKey, userId, normaliseRecoveryCode(code) ?? code)
  }
}
