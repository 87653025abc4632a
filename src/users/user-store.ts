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
}

export class EmailTakenError extends Error {}

const RECORD = { id: true, email: true, passwordHash: true, credentialsVersion: true } as const

/** A UserRecord's columns of `auth.users u`, for a statement that reads the row beside others. */
export const USER_COLUMNS = Prisma.sql`u.id, u.email, u.password_hash, u.credentials_version`
export interface UserRow {
  id: string
  email: string
  password_hash: string
  credentials_version: number
}
export const userFromRow = (r: UserRow): UserRecord => ({
  id: r.id,
  email: r.email,
  passwordHash: r.password_hash,
  credentialsVersion: r.credentials_version,
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
}
