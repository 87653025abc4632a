// The only module that reads or writes the users table.
import type { PrismaClient } from '../generated/prisma/client.js'

export interface UserRecord {
  id: string
  email: string
  passwordHash: string
}

export class EmailTakenError extends Error {}

export class UserStore {
  constructor(private readonly prisma: PrismaClient) {}

  async create(email: string, passwordHash: string): Promise<UserRecord> {
    try {
      return await this.prisma.user.create({
        data: { email, passwordHash },
        select: { id: true, email: true, passwordHash: true },
      })
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') throw new EmailTakenError(email)
      throw err
    }
  }

  findByEmail(email: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({ where: { email }, select: { id: true, email: true, passwordHash: true } })
  }

  findById(id: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({ where: { id }, select: { id: true, email: true, passwordHash: true } })
  }

  /**
   * Replaces the hash only if it is still `expected`; false otherwise. A rehash after login
   * must never overwrite a password changed in the meantime.
   */
  async replacePasswordHash(id: string, expected: string, passwordHash: string): Promise<boolean> {
    const { count } = await this.prisma.user.updateMany({ where: { id, passwordHash: expected }, data: { passwordHash } })
    return count === 1
  }
}
