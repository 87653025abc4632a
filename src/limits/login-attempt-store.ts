// The failed-login counters in login_attempts. Time comes from the database, so every instance
// agrees on locks. The rules are SQL functions (migration 20261203200000_login_gate) that mirror
// policy.ts; a correct password's reset rides on the new session's statement
// (TokenStore.createFamily), so a successful login costs two statements here and there.
import { execute, raw, rows, sql, type Queryable } from '../db/sql.js'
import type { LockoutPolicy } from './policy.js'
import { counterStoreFailed, type StoreLog } from './rate-limit-store.js'
import type { TimeoutOptions } from '../tokens/token-store.js'
import { USER_COLUMNS, userFromRow, type UserRecord, type UserRow } from '../users/user-store.js'
import { FACTOR_COLUMNS, factorsFromRow, type FactorRow, type SecondFactors } from '../mfa/factor-store.js'

interface GateRow {
  counted: boolean
  account_failures: number
  allowed: boolean | null
  retry_after_sec: number
  address_limited: boolean
  address_retry_after_ms: number
}

/**
 * A per-client-IP request limit the gate counts first (ipLimiter's, when its counters are in
 * Postgres). Not the mail's per-email AddressLimit (address-limit.ts); the SQL calls it "address".
 */
export interface IpLimit {
  /** the counter's key in rate_limit_counters (a SHA-256 of the route and the address) */
  key: string
  max: number
  windowMs: number
}

export interface GateArgs {
  /** the per-account counter (accountKey) and the failures below which it still counts */
  accountKey: string
  below: number
  /** the per-address counter (attemptKey) */
  attemptKey: string
  /** the account's row, read in the same statement; null matches none */
  email: string | null
}

/** The gate refused the request for its IP limit; it counted nothing else. */
export interface IpLimitedGate {
  ipLimited: true
  retryAfterMs: number
}

export type GateResult =
  | { counted: false; accountFailures: number; user: UserRecord | null; factors: SecondFactors }
  | { counted: true; accountFailures: number; decision: Claim; user: UserRecord | null; factors: SecondFactors }

/** What the claim decided (decideAttempt, without the state it wrote). */
export type Claim = { allowed: true } | { allowed: false; retryAfterSec: number }

export class LoginAttemptStore {
  constructor(
    private readonly db: Queryable,
    private readonly timeouts: TimeoutOptions,
    private readonly lockout: LockoutPolicy,
    /** where a failed statement that counted an address is logged (it answers as a failed counter store does) */
    private readonly log: StoreLog = { warn() {}, error() {} },
  ) {}

  /**
   * A login's one statement before argon2 (auth.open_login): counts the request against its
   * client IP's limit when given one (and stops there past it), counts the attempt against the
   * account unless it is past `below`, then claims it for this address (decideAttempt, in
   * SQL), and reads the account's row. Each counter's row is locked only for that statement,
   * so concurrent attempts queue briefly and each sees the ones counted before it. Its
   * transaction commits asynchronously (a crash may lose counts, which are not sessions; the
   * migration 20261212000000 says why), and the next statement on the connection does not.
   */
  async open(args: GateArgs): Promise<GateResult>
  async open(args: GateArgs & { ipLimit: IpLimit | null }): Promise<GateResult | IpLimitedGate>
  async open(args: GateArgs & { ipLimit?: IpLimit | null }): Promise<GateResult | IpLimitedGate> {
    const { freeFailures, baseSec, maxSec, resetSec } = this.lockout
    const limit = args.ipLimit ?? null
    const statement = sql`
      WITH g AS MATERIALIZED (
        SELECT * FROM auth.open_login(
          ${args.accountKey}::char(64), ${Math.min(args.below, 2_147_483_647)}::integer, ${args.attemptKey}::char(64),
          ${freeFailures}::integer, ${baseSec}::integer, ${maxSec}::integer, ${resetSec}::integer,
          ${this.timeouts.lockTimeoutMs}::integer, NULL,
          ${limit?.key ?? null}::char(64), ${limit?.max ?? null}::integer, ${limit === null ? null : Math.round(limit.windowMs)}::bigint)
      )
      SELECT g.counted, g.account_failures, g.allowed, g.retry_after_sec, g.address_limited, g.address_retry_after_ms,
             ${raw(USER_COLUMNS)}, ${raw(FACTOR_COLUMNS)}
      FROM g LEFT JOIN auth.users u ON u.email = ${args.email}::text AND NOT g.address_limited`
    type Row = GateRow & Partial<UserRow> & Partial<FactorRow>
    // With the address's limit in it, this statement is that limit's counter store, and fails
    // as one does (rate-limit-store.ts failingAs503): 503 with Retry-After, never a free pass.
    const [row] = await rows<Row>(this.db, statement).catch((err: unknown) => {
      throw limit === null ? err : counterStoreFailed(err, 'postgres', this.log)
    })
    if (row!.address_limited) return { ipLimited: true, retryAfterMs: row!.address_retry_after_ms }
    const user = row!.id ? userFromRow(row as UserRow) : null
    const factors = factorsFromRow(row!)
    if (!row!.counted) return { counted: false, accountFailures: row!.account_failures, user, factors }
    const decision: Claim = row!.allowed ? { allowed: true } : { allowed: false, retryAfterSec: row!.retry_after_sec }
    return { counted: true, accountFailures: row!.account_failures, decision, user, factors }
  }

  /** The per-address claim alone (auth.claim_login_attempt): a password change's check. */
  async claim(key: string): Promise<Claim> {
    const { freeFailures, baseSec, maxSec, resetSec } = this.lockout
    const [row] = await rows<{ allowed: boolean; retry_after_sec: number }>(this.db, sql`
      SELECT * FROM auth.claim_login_attempt(${key}::char(64), ${freeFailures}::integer, ${baseSec}::integer, ${maxSec}::integer, ${resetSec}::integer)`)
    return row!.allowed ? { allowed: true } : { allowed: false, retryAfterSec: row!.retry_after_sec }
  }

  /** After a correct password: the account starts again from zero. */
  async reset(...keys: string[]): Promise<void> {
    await execute(this.db, sql`DELETE FROM auth.login_attempts WHERE key = ANY(${keys}::char(64)[])`)
  }

  /** Deletes up to `limit` counters nobody has failed on for `resetSec`; returns how many. */
  async deleteStale(resetSec: number, limit: number): Promise<number> {
    return execute(this.db, sql`
      DELETE FROM auth.login_attempts WHERE key IN (
        SELECT key FROM auth.login_attempts
        WHERE last_failure_at < now() - make_interval(secs => ${resetSec}::float8)
          AND (locked_until IS NULL OR locked_until < now())
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)`)
  }
}
