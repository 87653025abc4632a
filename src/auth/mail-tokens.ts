// Issuing and checking what mails carry, for every mail flow: a new link token and code per
// mail (replacing the user's older one of the same purpose), and the check of a presented
// link or code against the live row, spending a guess first for a code.
import type { AuthSettings } from '../options.js'
import type { Tx } from '../db/client.js'
import { normaliseEmail } from '../users/email.js'
import type { EmailTokenPurpose, EmailTokenRow, EmailTokenStore } from '../users/email-token-store.js'
import { codeMatches, hashCode, hashLinkToken, linkTo, newCode, newLinkToken } from './email-proofs.js'

/** What a client presents: the link's token, or the address the mail went to and its code. */
export type EmailProof = { token: string } | { email: string; code: string }

export interface IssuedProof {
  link: string | null
  code: string
  expiresInMinutes: number
}

const PAGES: Record<EmailTokenPurpose, keyof AuthSettings['links']> = {
  reset_password: 'resetPassword',
  verify_email: 'verifyEmail',
  change_email: 'confirmEmailChange',
  undo_email_change: 'undoEmailChange',
}

export class MailTokens {
  constructor(
    private readonly store: EmailTokenStore,
    private readonly settings: Pick<AuthSettings, 'links' | 'mailLimits' | 'codeKey'>,
  ) {}

  /** A new link and code for `userId` and `purpose`; null when `keepLive` kept a live older one. */
  async issue(args: { userId: string; purpose: EmailTokenPurpose; email: string; ttlSec: number; keepLive?: boolean; credentialsVersion?: number; tx?: Tx }): Promise<IssuedProof | null> {
    const token = newLinkToken()
    const code = newCode()
    const issued = await this.store.issue({
      userId: args.userId,
      purpose: args.purpose,
      email: args.email,
      tokenHash: hashLinkToken(token),
      codeHash: (id) => hashCode(this.settings.codeKey, id, code),
      ttlSec: args.ttlSec,
      keepLive: args.keepLive,
      credentialsVersion: args.credentialsVersion,
      tx: args.tx,
    })
    if (!issued) return null
    return { link: linkTo(this.settings.links[PAGES[args.purpose]], token), code, expiresInMinutes: Math.round(args.ttlSec / 60) }
  }

  /**
   * The live row the proof names, not yet spent (the caller spends it in the transaction that
   * acts on it); null for anything else. A code costs one of the row's guesses, right or wrong.
   */
  async check(purpose: EmailTokenPurpose, proof: EmailProof): Promise<EmailTokenRow | null> {
    const max = this.settings.mailLimits.codeAttempts
    if ('token' in proof) return this.store.findByToken(purpose, hashLinkToken(proof.token), max)
    const email = normaliseEmail(proof.email)
    if (!email) return null
    const rows = await this.store.claimCodeAttempt(purpose, email, max)
    return rows.find((r) => codeMatches(this.settings.codeKey, r.id, proof.code, r.codeHash)) ?? null
  }

  /** Spends a checked row inside the transaction that acts on it: true for one caller only. */
  spend(tx: Tx, row: EmailTokenRow): Promise<boolean> {
    return this.store.spend(tx, row.id, this.settings.mailLimits.codeAttempts)
  }

  discard(tx: Tx, userId: string, purpose: EmailTokenPurpose): Promise<void> {
    return this.store.discard(tx, userId, purpose)
  }
}
