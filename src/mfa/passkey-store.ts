// The only module that reads or writes webauthn_credentials. A use is recorded by a statement
// that moves the signature counter forward only (or leaves a counter-less authenticator at 0),
// so a cloned authenticator's replayed counter loses the race on every instance.
import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.js'
import type { Tx } from '../db/client.js'

export interface Passkey {
  id: string
  userId: string
  credentialId: string
  publicKey: Uint8Array
  counter: number
  transports: string[]
  backupEligible: boolean
  backedUp: boolean
  userVerified: boolean
  name: string
  createdAt: Date
  lastUsedAt: Date | null
}

// The row as Prisma reads it: the counter is a BIGINT.
const toPasskey = (r: Omit<Passkey, 'counter'> & { counter: bigint }): Passkey => ({ ...r, counter: Number(r.counter) })

export class PasskeyAlreadyRegistered extends Error {}

export class PasskeyStore {
  constructor(private readonly prisma: PrismaClient) {}

  async listOf(userId: string): Promise<Passkey[]> {
    const rows = await this.prisma.webauthnCredential.findMany({ where: { userId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })
    return rows.map(toPasskey)
  }

  async findByCredentialId(credentialId: string): Promise<Passkey | null> {
    const row = await this.prisma.webauthnCredential.findUnique({ where: { credentialId } })
    return row ? toPasskey(row) : null
  }

  async add(p: Omit<Passkey, 'id' | 'createdAt' | 'lastUsedAt'>): Promise<Passkey> {
    try {
      const row = await this.prisma.webauthnCredential.create({
        data: { id: randomUUID(), ...p, publicKey: Uint8Array.from(p.publicKey), counter: BigInt(p.counter) },
      })
      return toPasskey(row)
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') throw new PasskeyAlreadyRegistered()
      throw err
    }
  }

  /**
   * Records a verified use: the new counter only if it is ahead of the stored one (or both are 0:
   * an authenticator without a counter), and the backup state it reported now. False when
   * another use got there first with the same or a later counter.
   */
  async recordUse(tx: Tx | PrismaClient, id: string, newCounter: number, backedUp: boolean): Promise<boolean> {
    const n = await tx.$executeRaw`
      UPDATE auth.webauthn_credentials SET counter = ${BigInt(newCounter)}, backed_up = ${backedUp}, last_used_at = now()
      WHERE id = ${id}::uuid AND (counter < ${BigInt(newCounter)} OR (counter = 0 AND ${BigInt(newCounter)} = 0))`
    return n === 1
  }

  /** Removes one of the user's passkeys; false when it is not theirs (or does not exist). */
  async remove(tx: Tx, userId: string, id: string): Promise<Passkey | null> {
    const rows = await tx.webauthnCredential.findMany({ where: { id, userId } })
    if (rows.length === 0) return null
    await tx.webauthnCredential.deleteMany({ where: { id, userId } })
    return toPasskey(rows[0]!)
  }
}
