// The only module that reads or writes mfa_challenges: short-lived, single-use challenges that
// every instance shares. A login waiting for its second factor is keyed by the SHA-256 of the
// token its client holds; a WebAuthn ceremony by the SHA-256 of its WebAuthn challenge. Each is
// spent by the DELETE that uses it, so it is used once whichever instance sees it, and expiry is
// on the database's clock.
import { createHash } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.js'
import type { Tx } from '../db/client.js'
import { execute, sql, type Queryable } from '../db/sql.js'

export type ChallengePurpose = 'login' | 'passkey_login' | 'passkey_register'

export const challengeKey = (token: string) => createHash('sha256').update(`mfa-challenge-v1\n${token}`, 'utf8').digest('hex')

export interface ChallengeRow {
  purpose: ChallengePurpose
  userId: string | null
  credentialsVersion: number | null
  /** a login's: the public client it named */
  clientId: string | null
  webauthnChallenge: string | null
}

interface RowColumns {
  user_id: string | null
  credentials_version: number | null
  client_id: string | null
  webauthn_challenge: string | null
}

const rowOf = (purpose: ChallengePurpose, r: RowColumns): ChallengeRow => ({
  purpose,
  userId: r.user_id,
  credentialsVersion: r.credentials_version,
  clientId: r.client_id,
  webauthnChallenge: r.webauthn_challenge,
})

export class ChallengeStore {
  constructor(
    private readonly prisma: PrismaClient,
    /** for cleanup, which every instance runs on its own (db/sql.ts) */
    private readonly db: Queryable,
  ) {}

  /**
   * A login's challenge, only if the credentials are still at the version its password check saw;
   * the failed-login counters `resetAttempts` go in the same statement. False, having done
   * nothing, when the password changed meanwhile.
   */
  async issueLogin(args: { token: string; userId: string; credentialsVersion: number; clientId: string | null; ttlSec: number; resetAttempts: string[] }): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<{ n: number }[]>`
      WITH owner AS (
        SELECT id FROM auth.users WHERE id = ${args.userId}::uuid AND credentials_version = ${args.credentialsVersion} FOR SHARE
      ), ins AS (
        INSERT INTO auth.mfa_challenges (token_hash, purpose, user_id, credentials_version, client_id, created_at, expires_at)
        SELECT ${challengeKey(args.token)}, 'login', owner.id, ${args.credentialsVersion}, ${args.clientId}, now(), now() + make_interval(secs => ${args.ttlSec})
        FROM owner
        RETURNING token_hash
      ), reset AS (
        DELETE FROM auth.login_attempts WHERE key = ANY(${args.resetAttempts}::char(64)[]) AND EXISTS (SELECT 1 FROM ins)
      )
      SELECT count(*)::int AS n FROM ins`
    return rows[0]!.n === 1
  }

  /** A WebAuthn ceremony's challenge (its own value is the key). */
  async issueCeremony(args: { webauthnChallenge: string; purpose: Exclude<ChallengePurpose, 'login'>; userId: string | null; ttlSec: number }): Promise<void> {
    await this.prisma.$executeRaw`
      INSERT INTO auth.mfa_challenges (token_hash, purpose, user_id, webauthn_challenge, created_at, expires_at)
      VALUES (${challengeKey(args.webauthnChallenge)}, ${args.purpose}, ${args.userId}::uuid, ${args.webauthnChallenge}, now(), now() + make_interval(secs => ${args.ttlSec}))`
  }

  /** A live challenge, without spending it. */
  async find(token: string, purpose: ChallengePurpose): Promise<ChallengeRow | null> {
    const rows = await this.prisma.$queryRaw<RowColumns[]>`
      SELECT user_id, credentials_version, client_id, webauthn_challenge FROM auth.mfa_challenges
      WHERE token_hash = ${challengeKey(token)} AND purpose = ${purpose} AND expires_at > now()`
    const r = rows[0]
    return r ? rowOf(purpose, r) : null
  }

  /** Gives a live login challenge the WebAuthn challenge a passkey will answer it with; its owner, or null. */
  async attachWebauthn(token: string, webauthnChallenge: string): Promise<string | null> {
    const rows = await this.prisma.$queryRaw<{ user_id: string }[]>`
      UPDATE auth.mfa_challenges SET webauthn_challenge = ${webauthnChallenge}
      WHERE token_hash = ${challengeKey(token)} AND purpose = 'login' AND expires_at > now()
      RETURNING user_id`
    return rows[0]?.user_id ?? null
  }

  /** Spends a live challenge: what it held, once, on whichever instance asks first; null after. */
  async spend(token: string, purpose: ChallengePurpose, db: Tx | PrismaClient = this.prisma): Promise<ChallengeRow | null> {
    const rows = await db.$queryRaw<RowColumns[]>`
      DELETE FROM auth.mfa_challenges
      WHERE token_hash = ${challengeKey(token)} AND purpose = ${purpose} AND expires_at > now()
      RETURNING user_id, credentials_version, client_id, webauthn_challenge`
    const r = rows[0]
    return r ? rowOf(purpose, r) : null
  }

  /** Cleanup, one batch: expired challenges. */
  async deleteExpired(limit: number): Promise<number> {
    return execute(this.db, sql`
      DELETE FROM auth.mfa_challenges WHERE token_hash IN (
        SELECT token_hash FROM auth.mfa_challenges WHERE expires_at < now() LIMIT ${limit} FOR UPDATE SKIP LOCKED)`)
  }
}
