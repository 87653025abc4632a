// Property tests of the rotation rule: random sequences of refresh / wait / logout against a
// tiny in-memory simulator that applies decideRotation exactly as SessionService + TokenStore
// do, compared step by step with an independent, plainly written model of the rule.
//
// Seeded and bounded so CI is deterministic and quick. To explore further, run e.g.
//   FC_RUNS=20000 FC_SEED=$RANDOM npx vitest run test/tokens/policy.property.test.ts
// A failure prints the seed and the shrunk counterexample; re-run with that FC_SEED (and the
// printed `path`, via FC_PATH) to reproduce it.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { childExpiry, decideRotation } from '../../src/tokens/policy.js'

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 42
const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 300
const PATH = process.env.FC_PATH
const fcParams = (numRuns = RUNS) => ({ seed: SEED, numRuns, ...(PATH ? { path: PATH } : {}) })

const SEC = 1000
const MIN = 60 * SEC
const DAY = 24 * 60 * MIN

type Reason = 'logout' | 'reuse_detected'

// ---------------------------------------------------------------------------------------------
// Simulator: the state the database holds, changed exactly as session-service/token-store do.
// ---------------------------------------------------------------------------------------------

interface SimToken {
  id: string
  parentId: string | null
  createdAt: Date
  spentAt: Date | null
  expiresAt: Date
}

interface SimFamily {
  revokedAt: Date | null
  revokedReason: Reason | null
  expiresAt: Date
}

type Outcome =
  | { ok: true; token: number; fresh: boolean }
  | { ok: false; refusal: 'reuse' | 'revoked' | 'expired' }

class Simulator {
  now: Date
  readonly family: SimFamily
  readonly tokens: SimToken[] = []
  private seq = 0

  constructor(
    start: Date,
    private readonly ttlMs: number,
    sessionMaxMs: number,
    readonly windowMs: number,
  ) {
    this.now = start
    // createFamily: family expiry now + max age; first token LEAST(now + ttl, family expiry)
    this.family = { revokedAt: null, revokedReason: null, expiresAt: new Date(start.getTime() + sessionMaxMs) }
    this.tokens.push(this.mint(null, childExpiry(start, ttlMs, this.family.expiresAt)))
  }

  private mint(parentId: string | null, expiresAt: Date): SimToken {
    return { id: `tok-${this.seq++}`, parentId, createdAt: this.now, spentAt: null, expiresAt }
  }

  wait(ms: number): void {
    this.now = new Date(this.now.getTime() + ms)
  }

  /** revokeIn: only the first revocation counts */
  revoke(reason: Reason): void {
    if (this.family.revokedAt !== null) return
    this.family.revokedAt = this.now
    this.family.revokedReason = reason
  }

  refresh(index: number): Outcome {
    const presented = this.tokens[index]!
    const live = this.tokens.find((t) => t.spentAt === null) ?? null
    const decision = decideRotation({
      presented: { ...presented },
      live: live ? { ...live } : null,
      family: { revokedAt: this.family.revokedAt, expiresAt: this.family.expiresAt },
      now: this.now,
      windowMs: this.windowMs,
    })
    switch (decision.kind) {
      case 'rotate': {
        // UPDATE ... SET spent_at = now() WHERE id = presented AND spent_at IS NULL (must hit 1 row)
        if (presented.spentAt !== null) throw new Error('rotate decided for a spent token')
        presented.spentAt = this.now
        this.tokens.push(this.mint(presented.id, childExpiry(this.now, this.ttlMs, this.family.expiresAt)))
        return { ok: true, token: this.tokens.length - 1, fresh: true }
      }
      case 'replay': {
        const i = this.tokens.findIndex((t) => t.id === decision.childId)
        if (i < 0) throw new Error(`replay names unknown child ${decision.childId}`)
        return { ok: true, token: i, fresh: false }
      }
      case 'reuse':
        this.revoke('reuse_detected')
        return { ok: false, refusal: 'reuse' }
      case 'revoked':
      case 'expired':
        return { ok: false, refusal: decision.kind }
    }
  }

  snapshot() {
    return structuredClone({ family: this.family, tokens: this.tokens })
  }
}

// ---------------------------------------------------------------------------------------------
// Model: the rule written plainly over an index-based chain (token k is the child of k-1; the
// last one is live). It never calls decideRotation.
// ---------------------------------------------------------------------------------------------

class Model {
  now: number
  readonly createdAt: number[]
  readonly expiresAt: number[]
  readonly familyExpiresAt: number
  revokedReason: Reason | null = null

  constructor(
    start: number,
    private readonly ttlMs: number,
    sessionMaxMs: number,
    private readonly windowMs: number,
  ) {
    this.now = start
    this.familyExpiresAt = start + sessionMaxMs
    this.createdAt = [start]
    this.expiresAt = [Math.min(start + ttlMs, this.familyExpiresAt)]
  }

  get issued(): number {
    return this.createdAt.length
  }

  wait(ms: number): void {
    this.now += ms
  }

  logout(): void {
    if (this.revokedReason === null) this.revokedReason = 'logout'
  }

  refresh(index: number): Outcome {
    const live = this.issued - 1
    if (this.revokedReason !== null) return { ok: false, refusal: 'revoked' }
    if (this.now >= this.familyExpiresAt) return { ok: false, refusal: 'expired' }
    if (index === live) {
      if (this.now >= this.expiresAt[live]!) return { ok: false, refusal: 'expired' }
      this.createdAt.push(this.now)
      this.expiresAt.push(Math.min(this.now + this.ttlMs, this.familyExpiresAt))
      return { ok: true, token: live + 1, fresh: true }
    }
    const sinceChildCreated = this.now - this.createdAt[live]!
    if (index === live - 1 && this.windowMs > 0 && sinceChildCreated <= this.windowMs) {
      return { ok: true, token: live, fresh: false }
    }
    this.revokedReason = 'reuse_detected'
    return { ok: false, refusal: 'reuse' }
  }
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

type Step = { type: 'refresh'; i: number } | { type: 'wait'; ms: number } | { type: 'logout' }

/** index of the i-th issued token, modulo tokens issued so far (-1 = live, -2 = its parent) */
const pick = (i: number, issued: number) => ((i % issued) + issued) % issued

const refreshArb: fc.Arbitrary<Step> = fc
  .oneof(
    { arbitrary: fc.nat({ max: 1000 }), weight: 1 },
    { arbitrary: fc.constant(-1), weight: 4 },
    { arbitrary: fc.constant(-2), weight: 2 },
  )
  .map((i) => ({ type: 'refresh' as const, i }))

const waitArb = (maxMs: number, windowMs: number): fc.Arbitrary<Step> =>
  fc
    .oneof(
      { arbitrary: fc.integer({ min: 0, max: maxMs }), weight: 3 },
      // boundary-hunting waits: around the window in use, and around the other windows
      { arbitrary: fc.constantFrom(Math.max(0, windowMs - 1), windowMs, windowMs + 1), weight: 2 },
      { arbitrary: fc.constantFrom(0, 1, 999, 1000, 1001, 29_999, 30_000, 30_001), weight: 1 },
    )
    .map((ms) => ({ type: 'wait' as const, ms: Math.min(ms, maxMs) }))

const logoutArb: fc.Arbitrary<Step> = fc.constant({ type: 'logout' as const })

const stepsArb = (maxWaitMs: number, maxLength: number, windowMs: number) =>
  fc.array(
    fc.oneof(
      { arbitrary: refreshArb, weight: 12 },
      { arbitrary: waitArb(maxWaitMs, windowMs), weight: 8 },
      { arbitrary: logoutArb, weight: 1 },
    ),
    { minLength: 1, maxLength },
  )

const windowArb = fc.constantFrom(0, 1000, 30_000)

/** realistic wall-clock starts: 2020-01-01 .. 2035-01-01, millisecond precision */
const startArb = fc
  .integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) })
  .map((ms) => new Date(ms))

// ---------------------------------------------------------------------------------------------
// Running a scenario with all invariants checked after every step
// ---------------------------------------------------------------------------------------------

interface Tally {
  rotate: number
  replay: number
  reuse: number
  revoked: number
  expired: number
  replayAtBoundary: number
  reuseJustAfterWindow: number
  logoutThenRefresh: number
  expiredByToken: number
  expiredByFamily: number
  maxChain: number
}

const newTally = (): Tally => ({
  rotate: 0,
  replay: 0,
  reuse: 0,
  revoked: 0,
  expired: 0,
  replayAtBoundary: 0,
  reuseJustAfterWindow: 0,
  logoutThenRefresh: 0,
  expiredByToken: 0,
  expiredByFamily: 0,
  maxChain: 0,
})

function runScenario(
  start: Date,
  windowMs: number,
  ttlMs: number,
  sessionMaxMs: number,
  steps: Step[],
  tally: Tally,
): void {
  const sim = new Simulator(start, ttlMs, sessionMaxMs, windowMs)
  const model = new Model(start.getTime(), ttlMs, sessionMaxMs, windowMs)
  let firstRevocation: { at: number; reason: Reason } | null = null
  let familyEverExpired = false

  for (const [n, step] of steps.entries()) {
    const where = `step ${n} ${JSON.stringify(step)} (W=${windowMs})`
    const before = sim.snapshot()

    if (step.type === 'wait') {
      sim.wait(step.ms)
      model.wait(step.ms)
    } else if (step.type === 'logout') {
      sim.revoke('logout')
      model.logout()
    } else {
      const index = pick(step.i, sim.tokens.length)
      const live = sim.tokens.find((t) => t.spentAt === null) ?? null
      const expected = model.refresh(index)
      const actual = sim.refresh(index)

      // 1. the simulator (driven by decideRotation) agrees with the model
      expect(actual, where).toEqual(expected)

      if (actual.ok && actual.fresh) tally.rotate++
      if (actual.ok && !actual.fresh) tally.replay++
      if (!actual.ok) tally[actual.refusal]++
      if (!actual.ok && actual.refusal === 'revoked' && before.family.revokedReason === 'logout') tally.logoutThenRefresh++

      // 2. replay: only of the live token's parent, only for an unspent child, only inside W
      if (actual.ok && !actual.fresh) {
        const child = sim.tokens[actual.token]!
        expect(windowMs, `${where}: replay with W=0`).toBeGreaterThan(0)
        expect(child.spentAt, `${where}: replay of a child that was already rotated`).toBeNull()
        expect(actual.token, `${where}: replay must answer with the live token`).toBe(sim.tokens.length - 1)
        expect(child.parentId, `${where}: replay of a non-parent`).toBe(sim.tokens[index]!.id)
        const elapsed = sim.now.getTime() - child.createdAt.getTime()
        expect(elapsed, `${where}: replay outside the window`).toBeLessThanOrEqual(windowMs)
        if (elapsed === windowMs) tally.replayAtBoundary++
      }
      if (!actual.ok && actual.refusal === 'reuse' && live && live.parentId === sim.tokens[index]!.id) {
        if (sim.now.getTime() - live.createdAt.getTime() === windowMs + 1) tally.reuseJustAfterWindow++
      }

      // 3. refusals other than reuse change nothing
      if (!actual.ok && actual.refusal !== 'reuse') {
        expect(sim.snapshot(), `${where}: ${actual.refusal} changed state`).toEqual(before)
      }
      if (!actual.ok && actual.refusal === 'expired') {
        const famExpired = sim.now.getTime() >= sim.family.expiresAt.getTime()
        if (famExpired) tally.expiredByFamily++
        else tally.expiredByToken++
      }
      // once the family's absolute lifetime is over nothing is ever usable again
      if (familyEverExpired) expect(actual.ok, `${where}: usable after family expiry`).toBe(false)
    }
    if (sim.now.getTime() >= sim.family.expiresAt.getTime()) familyEverExpired = true

    // 4. model and simulator hold the same state
    expect(sim.tokens.length, `${where}: tokens issued`).toBe(model.issued)
    expect(sim.family.revokedReason, `${where}: revoked reason`).toBe(model.revokedReason)
    expect(sim.now.getTime(), `${where}: clock`).toBe(model.now)

    // 5. at most one unspent token, and it is the newest
    const unspent = sim.tokens.filter((t) => t.spentAt === null)
    expect(unspent.length, `${where}: unspent tokens`).toBeLessThanOrEqual(1)
    if (unspent.length === 1) expect(unspent[0], `${where}: live is newest`).toBe(sim.tokens.at(-1))

    // 6. a child never outlives its family
    for (const t of sim.tokens) expect(t.expiresAt.getTime()).toBeLessThanOrEqual(sim.family.expiresAt.getTime())

    // 7. revocation is terminal and keeps its first reason and time
    if (firstRevocation) {
      expect(sim.family.revokedAt?.getTime(), `${where}: revokedAt changed`).toBe(firstRevocation.at)
      expect(sim.family.revokedReason, `${where}: revokedReason changed`).toBe(firstRevocation.reason)
      if (step.type === 'refresh') {
        // nothing minted after revocation
        expect(sim.tokens.length, `${where}: minted after revocation`).toBe(before.tokens.length)
      }
    } else if (sim.family.revokedAt !== null) {
      firstRevocation = { at: sim.family.revokedAt.getTime(), reason: sim.family.revokedReason! }
    }
  }
  tally.maxChain = Math.max(tally.maxChain, sim.tokens.length)
}

// ---------------------------------------------------------------------------------------------

describe('rotation rule (property, against an independent model)', () => {
  it('random refresh/wait/logout sequences match the model and keep every invariant (long lifetimes)', () => {
    const tally = newTally()
    const TTL = 1 * DAY // ≫ the at most ~60 steps × 60 s a run can wait
    const SESSION_MAX = 30 * DAY
    fc.assert(
      fc.property(
        windowArb.chain((windowMs) => fc.tuple(fc.constant(windowMs), startArb, stepsArb(60_000, 60, windowMs))),
        ([windowMs, start, steps]) => {
          runScenario(start, windowMs, TTL, SESSION_MAX, steps, tally)
        },
      ),
      fcParams(),
    )
    // the run was not vacuous: every branch, both window edges, and deep chains were reached
    expect(tally.rotate).toBeGreaterThan(0)
    expect(tally.replay).toBeGreaterThan(0)
    expect(tally.reuse).toBeGreaterThan(0)
    expect(tally.revoked).toBeGreaterThan(0)
    expect(tally.logoutThenRefresh).toBeGreaterThan(0)
    expect(tally.replayAtBoundary).toBeGreaterThan(0)
    expect(tally.reuseJustAfterWindow).toBeGreaterThan(0)
    expect(tally.maxChain).toBeGreaterThanOrEqual(5)
  })

  it('with W=0 no replay ever happens', () => {
    const tally = newTally()
    fc.assert(
      fc.property(startArb, stepsArb(2_000, 60, 0), (start, steps) => {
        runScenario(start, 0, DAY, 30 * DAY, steps, tally)
      }),
      fcParams(),
    )
    expect(tally.replay).toBe(0)
    expect(tally.rotate).toBeGreaterThan(0)
    expect(tally.reuse).toBeGreaterThan(0)
  })

  it('with short token and family lifetimes, expired refusals change nothing and match the model', () => {
    const tally = newTally()
    fc.assert(
      fc.property(
        windowArb.chain((windowMs) =>
          fc.tuple(
            fc.constant(windowMs),
            startArb,
            fc.constantFrom(30 * SEC, 60 * SEC, 2 * MIN),
            fc.constantFrom(2 * MIN, 5 * MIN, 10 * MIN),
            stepsArb(60_000, 40, windowMs),
          ),
        ),
        ([windowMs, start, ttlMs, sessionMaxMs, steps]) => {
          runScenario(start, windowMs, ttlMs, sessionMaxMs, steps, tally)
        },
      ),
      fcParams(),
    )
    expect(tally.expired).toBeGreaterThan(0)
    expect(tally.expiredByToken).toBeGreaterThan(0)
    expect(tally.expiredByFamily).toBeGreaterThan(0)
    expect(tally.rotate).toBeGreaterThan(0)
  })
})
