// The only module that reads or writes email_tokens: the links and codes that mails carry.
// Only hashes are stored. Expiry is on the database's clock, so every instance agrees.
import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.js'
import type { Tx } from '../db/client.js'
import { execute, sql, type Queryable } from '../db/sql.js'

export type EmailTokenPurpose = 'reset_password' | 'verify_email' | 'change_email' | 'undo_email_change'

export interface EmailTokenRow {
  id: string
  userId: string
  purpose: EmailTokenPurpose
  email: string
  /** the credentials version a password check saw when the row was issued (change_email), else null */
  credentialsVersion: number | null
}

export interface ClaimedCode extends EmailTokenRow {
  codeHash: string
}

export class EmailTokenStore {
  constructor(
    private readonly prisma: PrismaClient,
    /** for cleanup, which every instance runs on its own (db/sql.ts) */
    private readonly db: Queryable,
  ) {}

  /**
   * The user's one live token of `purpose`, replacing any older one (its link and code stop
   * working). With `keepLive`, a live older one is kept instead and null is answered: the
   * undo of a change of address must survive a second change made within its window.
   */
  async issue(args: {
    id?: string
    userId: string
    purpose: EmailTokenPurpose
    email: string
    tokenHash: string
    codeHash: (id: string) => string
    ttlSec: number
    keepLive?: boolean
    credentialsVersion?: number | null
    tx?: Tx
  }): Promise<{ id: string; expiresAt: Date } | null> {
    const id = args.id ?? randomUUID()
    const db = args.tx ?? this.prisma
    const keepLive = args.keepLive === true
    const rows = await db.$queryRaw<{ id: string; expires_at: Date }[]>`
      INSERT INTO auth.email_tokens AS t (id, user_id, purpose, email, token_hash, code_hash, attempts, credentials_version, created_at, expires_at)
      VALUES (${id}::uuid, ${args.userId}::uuid, ${args.purpose}, ${args.email}, ${args.tokenHash}, ${args.codeHash(id)}, 0,
              ${args.credentialsVersion ?? null}::int, now(), now() + make_interval(secs => ${args.ttlSec}))
      ON CONFLICT (user_id, purpose) DO UPDATE SET
        id = EXCLUDED.id, email = EXCLUDED.email, token_hash = EXCLUDED.token_hash, code_hash = EXCLUDED.code_hash,
        attempts = 0, credentials_version = EXCLUDED.credentials_version, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
      WHERE NOT ${keepLive} OR t.expires_at <= now()
      RETURNING id, expires_at`
    return rows[0] ? { id: rows[0].id, expiresAt: rows[0].expires_at } : null
  }

  /** The live row a link's token names, without spending it; null when unknown, spent, expired or dead. */
  async findByToken(purpose: EmailTokenPurpose, tokenHash: string, maxAttempts: number): Promise<EmailTokenRow | null> {
    const rows = await this.prisma.$queryRaw<{ id: string; user_id: string; email: string; credentials_version: number | null }[]>`
      SELECT id, user_id, email, credentials_version FROM auth.email_tokens
      WHERE token_hash = ${tokenHash} AND purpose = ${purpose} AND expires_at > now() AND attempts < ${maxAttempts}`
    const r = rows[0]
    return r ? { id: r.id, userId: r.user_id, email: r.email, purpose, credentialsVersion: r.credentials_version } : null
  }

  /**
   * One guess at the codes sent to `email` for `purpose`: every live row there spends one
   * attempt first, in one statement, so parallel guesses can never test more than
   * `maxAttempts` codes per row. The caller compares the code with what comes back.
   */
  async claimCodeAttempt(purpose: EmailTokenPurpose, email: string, maxAttempts: number): Promise<ClaimedCode[]> {
    const rows = await this.prisma.$queryRaw<{ id: string; user_id: string; email: string; code_hash: string; credentials_version: number | null }[]>`
      UPDATE auth.email_tokens SET attempts = attempts + 1
      WHERE purpose = ${purpose} AND email = ${email} AND expires_at > now() AND attempts < ${maxAttempts}
      RETURNING id, user_id, email, code_hash, credentials_version`
    return rows.map((r) => ({ id: r.id, userId: r.user_id, email: r.email, purpose, codeHash: r.code_hash, credentialsVersion: r.credentials_version }))
  }

  /**
   * Spends a row found by findByToken or claimCodeAttempt, in the caller's transaction: true
   * for exactly one caller, while it is still live (a link is not spent after its code died).
   */
  async spend(tx: Tx, id: string, maxAttempts: number): Promise<boolean> {
    const count = await tx.$executeRaw`
      DELETE FROM auth.email_tokens WHERE id = ${id}::uuid AND expires_at > now() AND attempts <= ${maxAttempts}`
    return count === 1
  }

  /** Forgets a user's token of `purpose` (a verification made moot by a change of address). */
  async discard(tx: Tx, userId: string, purpose: EmailTokenPurpose): Promise<void> {
    await tx.$executeRaw`DELETE FROM auth.email_tokens WHERE user_id = ${userId}::uuid AND purpose = ${purpose}`
  }

  /** Cleanup, one batch: deletes up to `limit` expired rows. */
  async deleteExpired(limit: number): Promise<number> {
    return execute(this.db, sql`
      DELETE FROM auth.email_tokens WHERE id IN (
        SELECT id FROM auth.email_tokens WHERE expires_at < now() LIMIT ${limit} FOR UPDATE SKIP LOCKED)`)
  }
}
