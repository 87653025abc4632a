// The only module that reads or writes login_attempts. Time comes from the database, so every
// instance agrees on locks.
import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import type { AttemptDecision, AttemptState } from './policy.js'
import type { TimeoutOptions } from '../tokens/token-store.js'

export class LoginAttemptStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly timeouts: TimeoutOptions,
  ) {}

  /**
   * One short transaction: lock the key's row (creating it), let `decide` choose from its
   * state, write the new state if the attempt is allowed. Concurrent attempts on one account
   * queue on the row lock, so each sees the failures counted before it.
   */
  async claim(key: string, decide: (state: AttemptState | null, now: Date) => AttemptDecision): Promise<AttemptDecision> {
    const { lockTimeoutMs, statementTimeoutMs } = this.timeouts
    return this.prisma.$transaction(
      async (tx) => {
        const [row] = await tx.$queryRaw<
          { failures: number; last_failure_at: Date; locked_until: Date | null; now: Date }[]
        >`
          INSERT INTO auth.login_attempts (key, failures, last_failure_at)
          VALUES (${key}, 0, clock_timestamp())
          ON CONFLICT (key) DO UPDATE SET failures = login_attempts.failures
          RETURNING failures, last_failure_at, locked_until, clock_timestamp() AS now`
        const state = row!.failures === 0 ? null : { failures: row!.failures, lastFailureAt: row!.last_failure_at, lockedUntil: row!.locked_until }
        const decision = decide(state, row!.now)
        if (decision.allowed) {
          const { failures, lastFailureAt, lockedUntil } = decision.next
          await tx.$executeRaw`
            UPDATE auth.login_attempts
            SET failures = ${failures}, last_failure_at = ${lastFailureAt}, locked_until = ${lockedUntil}
            WHERE key = ${key}`
        }
        return decision
      },
      { maxWait: lockTimeoutMs, timeout: lockTimeoutMs + statementTimeoutMs },
    )
  }

  /**
   * The per-account counter (proof-of-work.ts): counts one attempt, in advance, if the key has
   * fewer than `below` failures (or none within `resetSec`). One statement, so parallel
   * attempts each see the ones counted before them, and the row is locked only for that
   * statement. Not counted: `failures` is what stopped it (at least `below`).
   */
  async countIfBelow(key: string, below: number, resetSec: number): Promise<{ counted: boolean; failures: number }> {
    const limit = Math.min(below, 2_147_483_647)
    const [row] = await this.prisma.$queryRaw<{ counted: number | null; before: number | null }[]>`
      WITH before AS (SELECT failures FROM auth.login_attempts WHERE key = ${key}),
      counted AS (
        INSERT INTO auth.login_attempts AS a (key, failures, last_failure_at)
        VALUES (${key}, 1, now())
        ON CONFLICT (key) DO UPDATE SET
          failures = CASE WHEN a.last_failure_at <= now() - make_interval(secs => ${resetSec}) THEN 1
                          ELSE LEAST(a.failures + 1, 2147483647) END,
          last_failure_at = now()
        WHERE a.last_failure_at <= now() - make_interval(secs => ${resetSec}) OR a.failures < ${limit}
        RETURNING a.failures)
      SELECT (SELECT failures FROM counted) AS counted, (SELECT failures FROM before) AS before`
    if (row!.counted !== null) return { counted: true, failures: row!.counted }
    return { counted: false, failures: Math.max(row!.before ?? 0, limit) }
  }

  /** After a correct password: the account starts again from zero. */
  async reset(...keys: string[]): Promise<void> {
    await this.prisma.$executeRaw`DELETE FROM auth.login_attempts WHERE key IN (${Prisma.join(keys)})`
  }

  /** Deletes up to `limit` counters nobody has failed on for `resetSec`; returns how many. */
  async deleteStale(resetSec: number, limit: number): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM auth.login_attempts WHERE key IN (
        SELECT key FROM auth.login_attempts
        WHERE last_failure_at < now() - make_interval(secs => ${resetSec})
          AND (locked_until IS NULL OR locked_until < now())
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)`
  }
}
