// The failed-login rules live twice: as the specification in TypeScript (src/limits/policy.ts,
// decideAttempt; the per-account count, written out below as countAhead) and as the SQL that
// runs them in one round trip (auth.claim_login_attempt, auth.count_login_attempt,
// auth.open_login). On random counters, policies and clocks, both must decide alike, and the
// SQL must leave each row as the decision says: nothing else.
//
// Each case is written in a transaction and rolled back. Seeded and bounded; explore with
//   FC_RUNS=5000 FC_SEED=$RANDOM npx vitest run test/limits/login-gate-sql.property.test.ts
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { decideAttempt, type AttemptState, type LockoutPolicy } from '../../src/limits/policy.js'
import { testDatabaseConnection } from '../helpers/database.js'

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 11
const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 300
const MAX_INT = 2_147_483_647

const client = testDatabaseConnection()

const NOW = new Date(Date.UTC(2026, 11, 3, 12, 0, 0, 0))
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs)
const key = () => randomBytes(32).toString('hex')

const policyArb = fc.record({
  freeFailures: fc.integer({ min: 1, max: 10 }),
  baseSec: fc.integer({ min: 1, max: 86_400 }),
  maxSec: fc.integer({ min: 1, max: 86_400 }),
  resetSec: fc.integer({ min: 1, max: 7 * 86_400 }),
})
// A counter as it can be found: none, a fresh row with no failure yet, or some failures, last
// one around the reset boundary, locked until around now. Edges as often as anywhere else.
const rowArb = fc.option(
  fc.record({
    failures: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(0, 1, MAX_INT - 1, MAX_INT)),
    lastFailure: fc.oneof(fc.constantFrom('reset-1', 'reset', 'reset+1'), fc.integer({ min: 0, max: 10 * 86_400_000 })),
    lockedUntil: fc.option(fc.oneof(fc.constantFrom(-1, 0, 1), fc.integer({ min: -86_400_000, max: 86_400_000 })), { nil: null }),
  }),
  { nil: null },
)
type Row = NonNullable<typeof rowArb extends fc.Arbitrary<infer T> ? T : never>

function stored(row: Row, p: LockoutPolicy) {
  const reset = p.resetSec * 1000
  const ago = row.lastFailure === 'reset-1' ? reset - 1 : row.lastFailure === 'reset' ? reset : row.lastFailure === 'reset+1' ? reset + 1 : row.lastFailure
  return { failures: row.failures, lastFailureAt: at(-ago), lockedUntil: row.lockedUntil === null ? null : at(row.lockedUntil) }
}

async function put(k: string, s: ReturnType<typeof stored> | null) {
  if (s) await client.query('INSERT INTO auth.login_attempts (key, failures, last_failure_at, locked_until) VALUES ($1, $2, $3, $4)', [k, s.failures, s.lastFailureAt, s.lockedUntil])
}
async function read(k: string) {
  const { rows } = await client.query('SELECT failures, last_failure_at, locked_until FROM auth.login_attempts WHERE key = $1', [k])
  const r = rows[0]
  return r ? { failures: r.failures as number, lastFailureAt: (r.last_failure_at as Date).getTime(), lockedUntil: (r.locked_until as Date | null)?.getTime() ?? null } : null
}
const plain = (s: ReturnType<typeof stored> | AttemptState | null) =>
  s ? { failures: s.failures, lastFailureAt: s.lastFailureAt.getTime(), lockedUntil: s.lockedUntil?.getTime() ?? null } : null

/** The per-account count, as account-ceiling.ts relies on it: counted ahead while below the ceiling. */
function countAhead(s: ReturnType<typeof stored> | null, below: number, resetSec: number) {
  const stale = !s || s.lastFailureAt.getTime() <= NOW.getTime() - resetSec * 1000
  if (stale) return { counted: true, failures: 1, next: { failures: 1, lastFailureAt: NOW, lockedUntil: s?.lockedUntil ?? null } }
  if (s.failures < below) return { counted: true, failures: Math.min(s.failures + 1, MAX_INT), next: { ...s, failures: Math.min(s.failures + 1, MAX_INT), lastFailureAt: NOW } }
  return { counted: false, failures: Math.max(s.failures, below), next: s }
}

it('auth.claim_login_attempt decides as decideAttempt does, and writes what it decided', async () => {
  await fc.assert(
    fc.asyncProperty(policyArb, rowArb, async (p, row) => {
      const k = key()
      const before = row ? stored(row, p) : null
      // A row with no failure is no state: decideAttempt's null.
      const state: AttemptState | null = before && before.failures > 0 ? before : null
      const spec = decideAttempt(state, NOW, p)
      await client.query('BEGIN')
      try {
        await put(k, before)
        const { rows } = await client.query('SELECT allowed, retry_after_sec FROM auth.claim_login_attempt($1, $2, $3, $4, $5, $6)', [k, p.freeFailures, p.baseSec, p.maxSec, p.resetSec, NOW])
        const label = JSON.stringify({ p, row, spec })
        expect(rows[0], label).toEqual(spec.allowed ? { allowed: true, retry_after_sec: 0 } : { allowed: false, retry_after_sec: spec.retryAfterSec })
        expect(await read(k), label).toEqual(spec.allowed ? plain(spec.next) : plain(before))
      } finally {
        await client.query('ROLLBACK')
      }
    }),
    { seed: SEED, numRuns: RUNS },
  )
}, 120_000)

it('auth.count_login_attempt counts ahead below the ceiling and changes nothing at it', async () => {
  await fc.assert(
    fc.asyncProperty(policyArb, rowArb, fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(MAX_INT)), async (p, row, below) => {
      const k = key()
      const before = row ? stored(row, p) : null
      const spec = countAhead(before, below, p.resetSec)
      await client.query('BEGIN')
      try {
        await put(k, before)
        const { rows } = await client.query('SELECT counted, failures FROM auth.count_login_attempt($1, $2, $3, $4)', [k, below, p.resetSec, NOW])
        const label = JSON.stringify({ p, row, below, spec })
        expect(rows[0], label).toEqual({ counted: spec.counted, failures: spec.failures })
        expect(await read(k), label).toEqual(plain(spec.next))
      } finally {
        await client.query('ROLLBACK')
      }
    }),
    { seed: SEED, numRuns: RUNS },
  )
}, 120_000)

it('auth.open_login: the account first; its address is claimed only when the account counted', async () => {
  await fc.assert(
    fc.asyncProperty(policyArb, rowArb, rowArb, fc.integer({ min: 1, max: 40 }), async (p, accountRow, addressRow, below) => {
      const [ak, k] = [key(), key()]
      const account = accountRow ? stored(accountRow, p) : null
      const address = addressRow ? stored(addressRow, p) : null
      const counted = countAhead(account, below, p.resetSec)
      const claim = counted.counted ? decideAttempt(address && address.failures > 0 ? address : null, NOW, p) : null
      await client.query('BEGIN')
      try {
        await put(ak, account)
        await put(k, address)
        // The arguments of the first version (no address limit): an instance not yet upgraded
        // during a rolling deploy still calls it so.
        const { rows } = await client.query('SELECT * FROM auth.open_login($1, $2, $3, $4, $5, $6, $7, $8, $9)', [ak, below, k, p.freeFailures, p.baseSec, p.maxSec, p.resetSec, 2000, NOW])
        const label = JSON.stringify({ p, accountRow, addressRow, below })
        expect(rows[0], label).toEqual({
          counted: counted.counted,
          account_failures: counted.failures,
          allowed: claim ? claim.allowed : null,
          retry_after_sec: claim && !claim.allowed ? claim.retryAfterSec : 0,
          address_limited: false,
          address_retry_after_ms: 0,
        })
        expect(await read(ak), label).toEqual(plain(counted.next))
        expect(await read(k), label).toEqual(claim?.allowed ? plain(claim.next) : plain(address))
      } finally {
        await client.query('ROLLBACK')
      }
    }),
    { seed: SEED, numRuns: RUNS },
  )
}, 120_000)

// The per-address request limit (a fixed window, as CounterStore.hit counts every other
// route's): counted first; past its max the request is refused and counts nowhere else.
const counterArb = fc.option(
  fc.record({
    count: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constant(MAX_INT)),
    expiresInMs: fc.oneof(fc.constantFrom(-1, 0, 1), fc.integer({ min: -5_000, max: 60_000 })),
  }),
  { nil: null },
)

it('auth.open_login with an address limit: counted first; past its max, refused with the window left, and nothing else counted', async () => {
  await fc.assert(
    fc.asyncProperty(policyArb, counterArb, fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1_000, max: 120_000 }), async (p, counter, max, windowMs) => {
      const [ck, ak, k] = [key(), key(), key()]
      await client.query('BEGIN')
      try {
        // now() is the transaction's start, the clock the counter is timed on, in microseconds;
        // the table keeps milliseconds (now() + the window is rounded to them).
        const exactNow = Number((await client.query(`SELECT extract(epoch FROM now()) * 1000 AS exact`)).rows[0].exact)
        const now = Math.floor(exactNow)
        if (counter) await client.query('INSERT INTO auth.rate_limit_counters (key, count, expires_at) VALUES ($1, $2, $3)', [ck, counter.count, new Date(now + counter.expiresInMs)])
        const ended = !counter || counter.expiresInMs <= 0
        const count = ended ? 1 : Math.min(counter.count + 1, MAX_INT)
        const expiresAt = ended ? Math.round(exactNow + windowMs) : now + counter.expiresInMs
        const limited = count > max
        const { rows } = await client.query('SELECT * FROM auth.open_login($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)', [
          ak, 5, k, p.freeFailures, p.baseSec, p.maxSec, p.resetSec, 2000, NOW, ck, max, windowMs,
        ])
        const label = JSON.stringify({ p, counter, max, windowMs })
        expect(rows[0].address_limited, label).toBe(limited)
        expect(rows[0].address_retry_after_ms, label).toBe(limited ? Math.max(0, Math.ceil(expiresAt - exactNow)) : 0)
        expect(rows[0].counted, label).toBe(!limited)
        const left = (await client.query('SELECT count, expires_at FROM auth.rate_limit_counters WHERE key = $1', [ck])).rows[0]
        expect({ count: left.count, expiresAt: (left.expires_at as Date).getTime() }, label).toEqual({ count, expiresAt })
        expect(await read(ak), label).toEqual(limited ? null : expect.objectContaining({ failures: 1 }))
        expect(await read(k), label).toEqual(limited ? null : expect.objectContaining({ failures: 1 }))
      } finally {
        await client.query('ROLLBACK')
      }
    }),
    { seed: SEED, numRuns: RUNS },
  )
}, 120_000)

it('the generator reaches every branch', () => {
  // Not a property: a guard that the random cases above are not all alike.
  const seen = new Set<string>()
  fc.sample(fc.tuple(policyArb, rowArb), { seed: SEED, numRuns: RUNS }).forEach(([p, row]) => {
    const s = row ? stored(row, p) : null
    const d = decideAttempt(s && s.failures > 0 ? s : null, NOW, p)
    seen.add(!d.allowed ? 'locked' : d.next.lockedUntil ? 'allowed, now locked' : d.next.failures === 1 ? 'allowed, first' : 'allowed, counted on')
  })
  expect([...seen].sort()).toEqual(['allowed, counted on', 'allowed, first', 'allowed, now locked', 'locked'])
})
