// The rotation rule lives twice: as the specification in TypeScript (src/tokens/policy.ts,
// decideRotation and childExpiry; src/limits/policy.ts, takeFromWindow) and as the SQL that
// runs it in one round trip (auth.rotate_refresh_token). On random families, chains of tokens,
// windows, limits and clocks, both must decide alike, and the SQL must change exactly what the
// decision says: nothing else.
//
// Each case is written in a transaction and rolled back. Seeded and bounded; explore with
//   FC_RUNS=5000 FC_SEED=$RANDOM npx vitest run test/tokens/rotation-sql.property.test.ts
import { randomBytes, randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { childExpiry, decideRotation, type TokenState } from '../../src/tokens/policy.js'
import { takeFromWindow } from '../../src/limits/policy.js'
import { testDatabaseConnection } from '../helpers/database.js'

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 7
const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 400

const client = testDatabaseConnection()

const SEC = 1000
const MIN = 60 * SEC
const hash = () => randomBytes(32).toString('hex')

// Times land on the edges as often as anywhere else: an off-by-one in a comparison shows only
// there (a window of exactly the child's age, an expiry of exactly now).
const around = (min: number, max: number) => fc.oneof(fc.integer({ min, max }), fc.constantFrom(-1, 0, 1))
const edge = fc.constantFrom('edge-1', 'edge', 'edge+1')

// A family as it can be found: a chain of tokens, each the child of the one before, all spent
// but the last (or all, when the live one is gone), with times around `now`.
const caseArb = fc.record({
  chain: fc.array(
    fc.record({
      createdAgoMs: fc.oneof(fc.integer({ min: 0, max: 40 * MIN }), fc.constantFrom(0, 1)),
      expiresInMs: around(-10 * MIN, 40 * MIN),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  lastSpent: fc.boolean(),
  presented: fc.nat({ max: 3 }),
  familyRevoked: fc.boolean(),
  familyExpiresInMs: around(-5 * MIN, 60 * MIN),
  // 'edge…': the live token's age, one ms less or more
  windowMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 * MIN }), fc.constantFrom(30 * SEC, 60 * SEC), edge),
  ttlMs: fc.integer({ min: SEC, max: 60 * MIN }),
  limit: fc.option(fc.record({ max: fc.integer({ min: 1, max: 4 }), windowMs: fc.integer({ min: SEC, max: 10 * MIN }) }), { nil: null }),
  // 'edge…': the limit's window, one ms less or more, ago
  window: fc.record({ startedAgoMs: fc.option(fc.oneof(fc.integer({ min: 0, max: 20 * MIN }), edge), { nil: null }), count: fc.integer({ min: 0, max: 5 }) }),
  revokeOnReuse: fc.boolean(),
  expected: fc.constantFrom('none', 'same', 'other'),
})

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never

it('auth.rotate_refresh_token decides as policy.ts does, and changes only what it decides', async () => {
  let cases = 0
  await fc.assert(
    fc.asyncProperty(caseArb, async (c: Case) => {
      cases++
      const now = new Date(Date.UTC(2026, 11, 3, 12, 0, 0, 0))
      const at = (offsetMs: number) => new Date(now.getTime() + offsetMs)
      const userId = randomUUID()
      const familyId = randomUUID()
      // Created in order: each token no earlier than its parent.
      const created = c.chain.map((t) => t.createdAgoMs).sort((a, b) => b - a)
      const tokens: (TokenState & { hash: string })[] = c.chain.map((t, i) => ({
        id: randomUUID(),
        hash: hash(),
        parentId: null,
        createdAt: at(-created[i]!),
        spentAt: null,
        expiresAt: at(t.expiresInMs),
      }))
      tokens.forEach((t, i) => {
        t.parentId = i === 0 ? null : tokens[i - 1]!.id
        const last = i === tokens.length - 1
        // a token is spent when its child was minted; the last one only if the case says so
        t.spentAt = last ? (c.lastSpent ? at(-Math.floor(created[i]! / 2)) : null) : tokens[i + 1] ? at(-created[i + 1]!) : null
      })
      const presented = tokens[Math.min(c.presented, tokens.length - 1)]!
      const live = tokens.find((t) => t.spentAt === null) ?? null
      const edgeOf = (e: unknown, base: number) => (e === 'edge-1' ? base - 1 : e === 'edge' ? base : e === 'edge+1' ? base + 1 : (e as number))
      const windowMs = Math.max(0, edgeOf(c.windowMs, created[created.length - 1]!))
      const startedAgo = c.window.startedAgoMs === null ? null : Math.max(0, edgeOf(c.window.startedAgoMs, c.limit?.windowMs ?? MIN))
      const family = {
        revokedAt: c.familyRevoked ? at(-MIN) : null,
        expiresAt: at(c.familyExpiresInMs),
      }
      const windowState = { start: startedAgo === null ? null : at(-startedAgo), count: startedAgo === null ? 0 : c.window.count }
      const expectedFamily = c.expected === 'none' ? null : c.expected === 'same' ? familyId : randomUUID()
      const childId = randomUUID()
      const childHash = hash()

      // --- the specification ---
      let kind: string
      let retryAfterSec = 0
      let nextWindow = windowState
      if (expectedFamily !== null && expectedFamily !== familyId) {
        kind = 'foreign'
      } else {
        const decision = decideRotation({ presented, live, family, now, windowMs })
        kind = decision.kind
        if (decision.kind === 'rotate' && c.limit) {
          const w = takeFromWindow(windowState, now, c.limit.max, c.limit.windowMs)
          if (w.allowed) nextWindow = w.next
          else {
            kind = 'limited'
            retryAfterSec = w.retryAfterSec
          }
        } else if (decision.kind === 'rotate') {
          const w = takeFromWindow(windowState, now, Number.MAX_SAFE_INTEGER, 1)
          if (w.allowed) nextWindow = w.next
        }
      }

      // --- the SQL ---
      await client.query('BEGIN')
      try {
        await client.query(`INSERT INTO auth.users (id, email, password_hash, updated_at) VALUES ($1, $2, 'x', now())`, [userId, `${userId}@example.com`])
        await client.query(
          `INSERT INTO auth.token_families (id, user_id, expires_at, revoked_at, revoked_reason, refresh_window_start, refresh_count)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [familyId, userId, family.expiresAt, family.revokedAt, family.revokedAt ? 'logout' : null, windowState.start, windowState.count],
        )
        for (const t of tokens) {
          await client.query(
            `INSERT INTO auth.refresh_tokens (id, token_hash, family_id, parent_id, created_at, spent_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [t.id, t.hash, familyId, t.parentId, t.createdAt, t.spentAt, t.expiresAt],
          )
        }
        const { rows } = await client.query(
          `SELECT kind, family_id, user_id, retry_after_sec, decided_at FROM auth.rotate_refresh_token($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
          [presented.hash, childHash, childId, c.ttlMs, windowMs, c.limit?.max ?? null, c.limit?.windowMs ?? 0, c.revokeOnReuse, expectedFamily, 2000, now],
        )
        const got = rows[0]
        const label = JSON.stringify({ c, kind })
        expect(got, label).toMatchObject({ kind, family_id: familyId, user_id: userId, retry_after_sec: retryAfterSec })
        expect(got.decided_at.getTime()).toBe(now.getTime())

        // --- what it changed ---
        const after = await client.query(`SELECT id, parent_id, spent_at, expires_at, created_at FROM auth.refresh_tokens WHERE family_id = $1 ORDER BY created_at, id`, [familyId])
        const fam = (await client.query(`SELECT revoked_at, revoked_reason, last_used_at, refresh_window_start, refresh_count FROM auth.token_families WHERE id = $1`, [familyId])).rows[0]
        if (kind === 'rotate') {
          expect(after.rows, label).toHaveLength(tokens.length + 1)
          const minted = after.rows.find((r) => r.id === childId)
          expect(minted, label).toMatchObject({ parent_id: presented.id, spent_at: null })
          expect(minted.created_at.getTime()).toBe(now.getTime())
          expect(minted.expires_at.getTime(), label).toBe(childExpiry(now, c.ttlMs, family.expiresAt).getTime())
          expect(after.rows.find((r) => r.id === presented.id).spent_at.getTime()).toBe(now.getTime())
          expect(fam.last_used_at.getTime()).toBe(now.getTime())
          expect([fam.refresh_window_start?.getTime() ?? null, fam.refresh_count], label).toEqual([nextWindow.start?.getTime() ?? null, nextWindow.count])
        } else {
          // Nothing minted or spent, and the limit's window untouched.
          expect(after.rows, label).toHaveLength(tokens.length)
          for (const t of tokens) expect(after.rows.find((r) => r.id === t.id).spent_at?.getTime() ?? null, label).toBe(t.spentAt?.getTime() ?? null)
          expect([fam.refresh_window_start?.getTime() ?? null, fam.refresh_count], label).toEqual([windowState.start?.getTime() ?? null, windowState.count])
        }
        const revokedNow = kind === 'reuse' && c.revokeOnReuse
        expect(fam.revoked_reason, label).toBe(revokedNow ? 'reuse_detected' : family.revokedAt ? 'logout' : null)
      } finally {
        await client.query('ROLLBACK')
      }
    }),
    { seed: SEED, numRuns: RUNS },
  )
  expect(cases).toBeGreaterThanOrEqual(RUNS)
}, 120_000)

it('the generator reaches every decision', async () => {
  // Not a property: a guard that the random cases above are not all alike.
  const kinds = new Set<string>()
  fc.sample(caseArb, { seed: SEED, numRuns: RUNS }).forEach((c) => {
    const now = new Date(0)
    const created = c.chain.map((t) => t.createdAgoMs).sort((a, b) => b - a)
    const tokens = c.chain.map((t, i) => ({ id: String(i), parentId: i ? String(i - 1) : null, createdAt: new Date(-created[i]!), spentAt: i < c.chain.length - 1 || c.lastSpent ? new Date(0) : null, expiresAt: new Date(t.expiresInMs) }))
    const presented = tokens[Math.min(c.presented, tokens.length - 1)]!
    const live = tokens.find((t) => t.spentAt === null) ?? null
    const windowMs = typeof c.windowMs === 'number' ? c.windowMs : created[created.length - 1]!
    kinds.add(decideRotation({ presented, live, family: { revokedAt: c.familyRevoked ? new Date(-1) : null, expiresAt: new Date(c.familyExpiresInMs) }, now, windowMs }).kind)
  })
  expect([...kinds].sort()).toEqual(['expired', 'replay', 'reuse', 'revoked', 'rotate'])
})
