// Proving an address, and moving an account to another one.
//
// - verify(): a link or code from the verification mail marks the address proved.
// - resend(): the same 202 for any address; the account is looked up after the answer.
// - changeEmail(): needs the current password; the new address gets a link and code, and
//   nothing changes until it is used, and then only if the password is still the one checked. Whether the new address already has an account is looked
//   up after the answer too (its owner gets a notice instead).
// - confirmChange(): moves the account and tells the old address, with a link and code that
//   undo the change for emailChange.undoTtlSec. A second change within that time keeps the
//   first undo (the original owner's way back is what matters).
// - undoChange(): moves the account back, revokes every session, and mails a reset link to the
//   restored address: whoever made the change had the password.
import { ApiError } from '../errors.js'
import type { AuthSettings } from '../options.js'
import type { Tx } from '../db/client.js'
import { normaliseEmail } from '../users/email.js'
import { EmailTakenError, type UserStore } from '../users/user-store.js'
import type { Mailer } from '../mail/mailer.js'
import type { AddressLimit } from '../limits/address-limit.js'
import type { SessionEvents, SessionService } from '../tokens/session-service.js'
import type { SessionMeta } from '../tokens/token-store.js'
import type { AccountService } from './account-service.js'
import type { Background } from './background.js'
import type { EmailProof, IssuedProof, MailTokens } from './mail-tokens.js'
import type { RecoveryService } from './recovery-service.js'

export interface EmailServiceDeps {
  settings: Pick<AuthSettings, 'emailVerification' | 'emailChange'>
  users: UserStore
  accounts: AccountService
  recovery: RecoveryService
  sessions: SessionService
  tokens: MailTokens
  mailer: Mailer
  addressLimit: AddressLimit
  events: SessionEvents
  background: Background
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>
}

export class EmailService {
  constructor(private readonly d: EmailServiceDeps) {}

  async verify(proof: EmailProof, meta: SessionMeta): Promise<void> {
    const row = await this.d.tokens.check('verify_email', proof)
    if (!row) throw new ApiError('invalid_email_token')
    const done = await this.d.transaction(async (tx) => (await this.d.tokens.spend(tx, row)) && (await this.d.users.markVerified(tx, row.userId, row.email)))
    if (!done) throw new ApiError('invalid_email_token')
    this.d.events.record({ type: 'email_verified', userId: row.userId, ...meta })
  }

  async resend(rawEmail: string, meta: SessionMeta): Promise<void> {
    const email = normaliseEmail(rawEmail)
    if (!email) throw new ApiError('invalid_email')
    await this.d.addressLimit.take(email)
    const time = new Date()
    this.d.background.run('resend-verification', async () => {
      const user = await this.d.users.findByEmail(email)
      if (!user || user.emailVerifiedAt !== null) return
      const proof = await this.d.tokens.issue({ userId: user.id, purpose: 'verify_email', email, ttlSec: this.d.settings.emailVerification.ttlSec })
      this.d.mailer.send({ kind: 'verify_email', to: email, userId: user.id, ip: meta.ip, time, ...proof })
    })
  }

  async changeEmail(caller: { sub: string; sid: string }, rawNewEmail: string, password: string, meta: SessionMeta): Promise<void> {
    const user = await this.d.users.findById(caller.sub)
    if (!user) throw new ApiError('unauthorized')
    await this.d.accounts.checkCurrentPassword(user, password, caller.sid, meta)
    const newEmail = normaliseEmail(rawNewEmail)
    if (!newEmail) throw new ApiError('invalid_email')
    if (newEmail === user.email) throw new ApiError('invalid_request', 'That is already the address of this account.')
    await this.d.addressLimit.take(newEmail)
    this.d.events.record({ type: 'email_change_requested', userId: user.id, familyId: caller.sid, ...meta })
    const time = new Date()
    this.d.background.run('change-email', async () => {
      const taken = await this.d.users.findByEmail(newEmail)
      if (taken) {
        this.d.mailer.send({ kind: 'email_change_taken', to: newEmail, userId: user.id, ip: meta.ip, time })
        return
      }
      const proof = await this.d.tokens.issue({
        userId: user.id,
        purpose: 'change_email',
        email: newEmail,
        ttlSec: this.d.settings.emailChange.ttlSec,
        credentialsVersion: user.credentialsVersion,
      })
      this.d.mailer.send({ kind: 'confirm_email_change', to: newEmail, userId: user.id, ip: meta.ip, time, oldEmail: user.email, newEmail, ...proof })
    })
  }

  async confirmChange(proof: EmailProof, meta: SessionMeta): Promise<void> {
    const row = await this.d.tokens.check('change_email', proof)
    if (!row) throw new ApiError('invalid_email_token')
    const user = await this.d.users.findById(row.userId)
    if (!user) throw new ApiError('invalid_email_token')
    const oldEmail = user.email
    let undo: IssuedProof | null = null
    const done = await this.moving(() =>
      this.d.transaction(async (tx) => {
        if (!(await this.d.tokens.spend(tx, row))) return false
        if (!(await this.d.users.changeEmail(tx, user.id, oldEmail, row.email, row.credentialsVersion))) return false
        // A verification mailed to the old address proves nothing about the new one.
        await this.d.tokens.discard(tx, user.id, 'verify_email')
        undo = await this.d.tokens.issue({ userId: user.id, purpose: 'undo_email_change', email: oldEmail, ttlSec: this.d.settings.emailChange.undoTtlSec, keepLive: true, tx })
        return true
      }),
    )
    if (!done) throw new ApiError('invalid_email_token')
    this.d.events.record({ type: 'email_changed', userId: user.id, ...meta })
    this.d.mailer.send({ kind: 'email_changed', to: oldEmail, userId: user.id, ip: meta.ip, time: new Date(), oldEmail, newEmail: row.email, ...(undo ?? {}) })
  }

  async undoChange(proof: EmailProof, meta: SessionMeta): Promise<void> {
    const row = await this.d.tokens.check('undo_email_change', proof)
    if (!row) throw new ApiError('invalid_email_token')
    const user = await this.d.users.findById(row.userId)
    if (!user) throw new ApiError('invalid_email_token')
    const done = await this.moving(() =>
      this.d.sessions.revokeAllAfter('email_change_undone', meta, async (tx) => {
        if (!(await this.d.tokens.spend(tx, row))) return null
        if (!(await this.d.users.changeEmail(tx, user.id, user.email, row.email))) return null
        await this.d.tokens.discard(tx, user.id, 'change_email')
        return { userId: user.id, value: true }
      }),
    )
    if (!done) throw new ApiError('invalid_email_token')
    await this.d.events.recordNow({ type: 'email_change_undone', userId: user.id, ...meta })
    await this.d.recovery.mailReset(user.id, row.email, 'email_change_undone', meta, new Date())
  }

  // The address was free when the change was asked for; someone may have registered it since.
  // Only the mailbox's holder gets this far (the token came from it), so telling is no leak.
  private async moving<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof EmailTakenError) throw new ApiError('email_taken', 'Another account has this address now.')
      throw err
    }
  }
}
