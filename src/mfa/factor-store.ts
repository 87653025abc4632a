// The only module that reads or writes totp_factors and recovery_codes (and, as FACTOR_COLUMNS,
// the one that tells a login's gate statement which second factors an account has). A code is
// accepted by the statement that records it: the step of a TOTP code only moves forward, a
// recovery code is deleted. Time is the caller's clock for TOTP steps, the database's for rows.
import { randomUUID } from 'node:crypto'
import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import type { Tx } from '../db/client.js'

/** Which second factors an account has: what a password login must then ask for. */
export interface SecondFactors {
  /** a confirmed authenticator app */
  totp: boolean
  passkeys: boolean
  recoveryCodes: boolean
}

export const NO_FACTORS: SecondFactors = { totp: false, passkeys: false, recoveryCodes: false }

export const hasSecondFactor = (f: SecondFactors) => f.totp || f.passkeys

/** SecondFactors of `auth.users u`, for a statement that reads the account beside other things. */
export const FACTOR_COLUMNS = `
  EXISTS (SELECT 1 FROM auth.totp_factors tf WHERE tf.user_id = u.id AND tf.confirmed_at IS NOT NULL) AS has_totp,
  EXISTS (SELECT 1 FROM auth.webauthn_credentials wc WHERE wc.user_id = u.id) AS has_passkeys,
  EXISTS (SELECT 1 FROM auth.recovery_codes rc WHERE rc.user_id = u.id) AS has_recovery_codes`

export interface FactorRow {
  has_totp: boolean | null
  has_passkeys: boolean | null
  has_recovery_codes: boolean | null
}

export const factorsFromRow = (r: Partial<FactorRow>): SecondFactors => ({
  totp: r.has_totp === true,
  passkeys: r.has_passkeys === true,
  recoveryCodes: r.has_recovery_codes === true,
})

export interface TotpRow {
  secretCiphertext: string
  confirmed: boolean
  lastUsedStep: bigint
}

export class FactorStore {
  constructor(private readonly prisma: PrismaClient) {}

  async factorsOf(userId: string, db: Tx | PrismaClient = this.prisma): Promise<SecondFactors & { recoveryCodesLeft: number; totpSince: Date | null }> {
    const rows = await db.$queryRaw<(FactorRow & { recovery_codes_left: number; totp_since: Date | null })[]>`
      SELECT ${Prisma.raw(FACTOR_COLUMNS)},
             (SELECT count(*)::int FROM auth.recovery_codes rc WHERE rc.user_id = u.id) AS recovery_codes_left,
             (SELECT tf.confirmed_at FROM auth.totp_factors tf WHERE tf.user_id = u.id) AS totp_since
      FROM auth.users u WHERE u.id = ${userId}::uuid`
    const r = rows[0]
    return r ? { ...factorsFromRow(r), recoveryCodesLeft: r.recovery_codes_left, totpSince: r.totp_since } : { ...NO_FACTORS, recoveryCodesLeft: 0, totpSince: null }
  }

  async totpOf(userId: string): Promise<TotpRow | null> {
    const row = await this.prisma.totpFactor.findUnique({ where: { userId }, select: { secretCiphertext: true, confirmedAt: true, lastUsedStep: true } })
    return row ? { secretCiphertext: row.secretCiphertext, confirmed: row.confirmedAt !== null, lastUsedStep: row.lastUsedStep } : null
  }

  /** A new enrolment waiting for its first code, replacing an unconfirmed one; false when one is confirmed already. */
  async startEnrolment(userId: string, secretCiphertext: string): Promise<boolean> {
    const n = await this.prisma.$executeRaw`
      INSERT INTO auth.totp_factors AS f (user_id, secret_ciphertext, confirmed_at, last_used_step, created_at)
      VALUES (${userId}::uuid, ${secretCiphertext}, NULL, 0, now())
      ON CONFLICT (user_id) DO UPDATE SET secret_ciphertext = EXCLUDED.secret_ciphertext, last_used_step = 0, created_at = now()
      WHERE f.confirmed_at IS NULL`
    return n === 1
  }

  /** Confirms the enrolment whose secret was checked, recording the code's step; false when it changed meanwhile. */
  async confirm(tx: Tx, userId: string, secretCiphertext: string, step: bigint): Promise<boolean> {
    const n = await tx.$executeRaw`
      UPDATE auth.totp_factors SET confirmed_at = now(), last_used_step = ${step}
      WHERE user_id = ${userId}::uuid AND confirmed_at IS NULL AND secret_ciphertext = ${secretCiphertext}`
    return n === 1
  }

  /**
   * Accepts a code of `step`: only if the app is confirmed and no code of this step or a later
   * one was accepted before (on any instance). The row's lock orders concurrent attempts; the
   * second to arrive sees the first one's step and is refused.
   */
  async acceptStep(tx: Tx | PrismaClient, userId: string, step: bigint): Promise<boolean> {
    const n = await tx.$executeRaw`
      UPDATE auth.totp_factors SET last_used_step = ${step}
      WHERE user_id = ${userId}::uuid AND confirmed_at IS NOT NULL AND last_used_step < ${step}`
    return n === 1
  }

  /** Spends a recovery code; false when it is not one of the account's (or was spent already). */
  async spendRecoveryCode(tx: Tx | PrismaClient, userId: string, codeHash: string): Promise<boolean> {
    const n = await tx.$executeRaw`DELETE FROM auth.recovery_codes WHERE user_id = ${userId}::uuid AND code_hash = ${codeHash}`
    return n === 1
  }

  /** The account's recovery codes become exactly these. */
  async replaceRecoveryCodes(tx: Tx, userId: string, codeHashes: string[]): Promise<void> {
    await tx.$executeRaw`DELETE FROM auth.recovery_codes WHERE user_id = ${userId}::uuid`
    await tx.recoveryCode.createMany({ data: codeHashes.map((codeHash) => ({ id: randomUUID(), userId, codeHash })) })
  }

  /** Removes the authenticator app; true when there was one (confirmed). */
  async removeTotp(tx: Tx, userId: string): Promise<boolean> {
    const n = await tx.$executeRaw`DELETE FROM auth.totp_factors WHERE user_id = ${userId}::uuid AND confirmed_at IS NOT NULL`
    return n === 1
  }

  /** Recovery codes stand in for a second factor: with none left, they go too. */
  async dropOrphanRecoveryCodes(tx: Tx, userId: string): Promise<void> {
    await tx.$executeRaw`
      DELETE FROM auth.recovery_codes WHERE user_id = ${userId}::uuid
        AND NOT EXISTS (SELECT 1 FROM auth.totp_factors WHERE user_id = ${userId}::uuid AND confirmed_at IS NOT NULL)
        AND NOT EXISTS (SELECT 1 FROM auth.webauthn_credentials WHERE user_id = ${userId}::uuid)`
  }
}
