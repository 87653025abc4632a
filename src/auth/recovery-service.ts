// Password reset by mail, and registration that does not tell who has an account.
//
// Neither may answer differently, or in a different time, for an address with an account:
// - forgot() counts the request against the address (whoever owns it) and returns; whether an
//   account exists is looked up after the answer, in the background;
// - register() does the same work either way: argon2, one statement that creates the account
//   or finds the existing one, one token row, one queued mail (a verification link to a new
//   account, a "someone tried to register your address" mail with a reset link to an existing
//   one), one audit record.
import { ApiError } from '../errors.js'
import type { AuthSettings } from '../options.js'
import { normaliseEmail } from '../users/email.js'
import type { UserRecord, UserStore } from '../users/user-store.js'
import type { Mailer } from '../mail/mailer.js'
import type { AddressLimit } from '../limits/address-limit.js'
import type { IssuedSession, SessionEvents, SessionService } from '../tokens/session-service.js'
import type { SessionMeta } from '../tokens/token-store.js'
import type { PasswordHasher } from './password.js'
import type { Background } from './background.js'
import type { EmailProof, MailTokens } from './mail-tokens.js'
import { passwordClaims } from '../mfa/methods.js'

export interface RecoveryDeps {
  settings: Pick<AuthSettings, 'passwordReset' | 'emailVerification'>
  users: UserStore
  passwords: PasswordHasher
  sessions: SessionService
  tokens: MailTokens
  mailer: Mailer
  addressLimit: AddressLimit
  events: SessionEvents
  background: Background
  /** an account with a second factor is never logged in by a mailed link alone */
  hasSecondFactor(userId: string): Promise<boolean>
  now: () => number
}

export class RecoveryService {
  constructor(private readonly d: RecoveryDeps) {}

  /** POST /password/forgot: the same 202, in the same time, for any address. */
  async forgot(rawEmail: string, meta: SessionMeta): Promise<void> {
    const email = normaliseEmail(rawEmail)
    if (!email) throw new ApiError('invalid_email')
    await this.d.addressLimit.take(email)
    const time = new Date()
    this.d.background.run('forgot-password', async () => {
      const user = await this.d.users.findByEmail(email)
      if (!user) return
      await this.mailReset(user.id, email, 'reset_password', meta, time)
    })
  }

  /**
   * POST /password/reset: a new password for the account the link or code was sent to. Every
   * session is revoked in the same transaction (reason password_reset, on every instance
   * within a second), and the credentials version moves on, so a login that checked the old
   * password cannot start a session. With `passwordReset.logsIn`, a session is started.
   */
  async reset(proof: EmailProof, newPassword: string, meta: SessionMeta): Promise<{ session: IssuedSession | null }> {
    const row = await this.d.tokens.check('reset_password', proof)
    if (!row) throw new ApiError('invalid_email_token')
    // Only for a live token: argon2 is not spent on guesses.
    const hash = await this.d.passwords.hash(newPassword)
    const user = await this.d.sessions.revokeAllAfter<UserRecord>('password_reset', meta, async (tx) => {
      if (!(await this.d.tokens.spend(tx, row))) return null
      const u = await this.d.users.resetPassword(tx, row.userId, hash, row.email)
      return u ? { userId: u.id, value: u } : null
    })
    if (!user) throw new ApiError('invalid_email_token')
    await this.d.events.recordNow({ type: 'password_reset', userId: user.id, ...meta })
    this.d.mailer.send({ kind: 'password_reset_done', to: user.email, userId: user.id, ip: meta.ip, time: new Date() })
    // A mailed link proves the mailbox, not a second factor: such an account logs in as usual.
    const logsIn = this.d.settings.passwordReset.logsIn && !(await this.d.hasSecondFactor(user.id))
    const session = logsIn ? await this.d.sessions.start(user, meta, { claims: passwordClaims(this.d.now()) }) : null
    return { session }
  }

  /** POST /register with verification on: 202 whether or not the address has an account. */
  async register(rawEmail: string, password: string, meta: SessionMeta): Promise<{ email: string }> {
    const email = normaliseEmail(rawEmail)
    if (!email) throw new ApiError('invalid_email')
    await this.d.addressLimit.take(email)
    const hash = await this.d.passwords.hash(password)
    const { id, created } = await this.d.users.createOrFind(email, hash)
    const time = new Date()
    if (created) {
      const proof = await this.d.tokens.issue({ userId: id, purpose: 'verify_email', email, ttlSec: this.d.settings.emailVerification.ttlSec })
      this.d.mailer.send({ kind: 'verify_email', to: email, userId: id, ip: meta.ip, time, ...proof })
      this.d.events.record({ type: 'registered', userId: id, ...meta })
    } else {
      await this.mailReset(id, email, 'register_existing', meta, time)
      this.d.events.record({ type: 'registration_attempted', userId: id, ...meta })
    }
    return { email }
  }

  /** A reset link and code to `email`, in a mail of `kind`. */
  async mailReset(userId: string, email: string, kind: 'reset_password' | 'register_existing' | 'email_change_undone', meta: SessionMeta, time: Date): Promise<void> {
    const proof = await this.d.tokens.issue({ userId, purpose: 'reset_password', email, ttlSec: this.d.settings.passwordReset.ttlSec })
    this.d.mailer.send({ kind, to: email, userId, ip: meta.ip, time, ...proof })
  }
}
