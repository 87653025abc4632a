// The users table: written only here; read here and, as USER_COLUMNS, beside a login's
// counters (LoginAttemptStore.open), so a login costs one statement before argon2.
import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import type { Tx } from '../db/client.js'

export interface UserRecord {
  id: string
  email: string
  passwordHash: string
  /** bumped by every password change; a session starts only if it is still what was checked */
  credentialsVersion: number
  /** when the owner proved the address; null: never */
  emailVerifiedAt: Date | null
}

export class EmailTakenError extends Error {}

const RECORD = { id: true, email: true, passwordHash: true, credentialsVersion: true, emailVerifiedAt: true } as const

/** A UserRecord's columns of `auth.users u`, for a statement that reads the row beside others. */
export const USER_COLUMNS = 'u.id, u.email, u.password_hash, u.credentials_version, u.email_verified_at'
export interface UserRow {
  id: string
  email: string
  password_hash: string
  credentials_version: number
  email_verified_at: Date | null
}
export const userFromRow = (r: UserRow): UserRecord => ({
  id: r.id,
  email: r.email,
  passwordHash: r.password_hash,
  credentialsVersion: r.credentials_version,
  emailVerifiedAt: r.email_verified_at,
})

export class UserStore {
  constructor(private readonly prisma: PrismaClient) {}

  async create(email: string, passwordHash: string): Promise<UserRecord> {
    try {
      return await this.prisma.user.create({ data: { email, passwordHash }, select: RECORD })
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') throw new EmailTakenError(email)
      throw err
    }
  }

  /**
   * Registration that must not tell who exists: one statement either way, which creates the
   * account or finds the one that has the address. The SELECT sees the statement's snapshot,
   * from before the INSERT, so exactly one branch answers.
   */
  async createOrFind(email: string, passwordHash: string): Promise<{ id: string; created: boolean }> {
    const rows = await this.prisma.$queryRaw<{ id: string; created: boolean }[]>`
      WITH ins AS (
        INSERT INTO auth.users (id, email, password_hash, updated_at)
        VALUES (gen_random_uuid(), ${email}, ${passwordHash}, now())
        ON CONFLICT (email) DO NOTHING
        RETURNING id
      )
      SELECT id, true AS created FROM ins
      UNION ALL
      SELECT id, false AS created FROM auth.users WHERE email = ${email} AND NOT EXISTS (SELECT 1 FROM ins)`
    // Empty only when a concurrent registration of the address has not committed yet: ON
    // CONFLICT waited for it and saw it, but our snapshot predates it. It exists either way.
    return rows[0] ?? { id: (await this.findByEmail(email))!.id, created: false }
  }

  findByEmail(email: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({ where: { email }, select: RECORD })
  }

  findById(id: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({ where: { id }, select: RECORD })
  }

  /**
   * The same password stored again at another cost: only if the hash is still `expected`, so a
   * re-hash never overwrites a password changed meanwhile. The credentials version stays: a
   * login that checked the password against the old hash checked the same password.
   */
  async rehash(id: string, expected: string, passwordHash: string): Promise<boolean> {
    const { count } = await this.prisma.user.updateMany({ where: { id, passwordHash: expected }, data: { passwordHash } })
    return count === 1
  }

  /**
   * A new password, only if the hash is still the one the current password was checked
   * against. Bumps the credentials version, so a login that checked the old password and has
   * not started its session yet cannot start it (TokenStore.createFamily's condition). The
   * row lock it takes is held until `tx` commits.
   */
  async changePassword(tx: Tx, id: string, expected: string, passwordHash: string): Promise<boolean> {
    const { count } = await tx.user.updateMany({
      where: { id, passwordHash: expected },
      data: { passwordHash, credentialsVersion: { increment: 1 } },
    })
    return count === 1
  }

  /**
   * A password set through a reset link or code sent to `provedEmail`: whatever the old one
   * was, with the credentials version bumped like a change. The mail reached the owner, so the
   * address is proved too, if it is still the account's. The user, or null if it is gone.
   */
  async resetPassword(tx: Tx, id: string, passwordHash: string, provedEmail: string): Promise<UserRecord | null> {
    const rows = await tx.$queryRaw<{ id: string; email: string; credentials_version: number; email_verified_at: Date | null }[]>`
      UPDATE auth.users
      SET password_hash = ${passwordHash}, credentials_version = credentials_version + 1, updated_at = now(),
          email_verified_at = CASE WHEN email = ${provedEmail} THEN COALESCE(email_verified_at, now()) ELSE email_verified_at END
      WHERE id = ${id}::uuid
      RETURNING id, email, credentials_version, email_verified_at`
    const r = rows[0]
    return r ? { id: r.id, email: r.email, passwordHash, credentialsVersion: r.credentials_version, emailVerifiedAt: r.email_verified_at } : null
  }

  /** Marks the address proved, if it is still the account's; false otherwise. */
  async markVerified(tx: Tx, id: string, email: string): Promise<boolean> {
    const count = await tx.$executeRaw`
      UPDATE auth.users SET email_verified_at = COALESCE(email_verified_at, now()), updated_at = now()
      WHERE id = ${id}::uuid AND email = ${email}`
    return count === 1
  }

  /**
   * Moves the account to `to`, proved (its owner followed the mail sent there), only if it is
   * still at `from` and, when `credentialsVersion` is given, its password has not changed
   * since the check that asked for the move. EmailTakenError when another account has `to` by now.
   */
  async changeEmail(tx: Tx, id: string, from: string, to: string, credentialsVersion: number | null = null): Promise<boolean> {
    try {
      const count = await tx.$executeRaw`
        UPDATE auth.users SET email = ${to}, email_verified_at = now(), updated_at = now()
        WHERE id = ${id}::uuid AND email = ${from}
          AND (${credentialsVersion}::int IS NULL OR credentials_version = ${credentialsVersion}::int)`
      return count === 1
    } catch (err) {
      if (isUniqueViolation(err)) throw new EmailTakenError(to)
      throw err
    }
  }
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; meta?: { code?: string; driverAdapterError?: { cause?: { originalCode?: string; kind?: string } } }; message?: string }
  return (
    e?.code === 'P2002' ||
    e?.code === '23505' ||
    e?.meta?.code === '23505' ||
    e?.meta?.driverAdapterError?.cause?.originalCode === '23505' ||
    e?.meta?.driverAdapterError?.cause?.kind === 'UniqueConstraintViolation' ||
    /23505|unique constraint/i.test(e?.message ?? '')
  )
}
