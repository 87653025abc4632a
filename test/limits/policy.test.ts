// The brute-force and rate-limit decisions, as pure functions: no server, no database.
import { describe, expect, it } from 'vitest'
import { takeFromWindow, attemptKey, decideAttempt, ipKey, lockSecondsAfter, type AttemptState, type LockoutPolicy, type WindowState } from '../../src/limits/policy.js'

const P: LockoutPolicy = { freeFailures: 5, baseSec: 1, maxSec: 900, resetSec: 3600 }
const t0 = new Date('2026-01-01T00:00:00.000Z')
const at = (sec: number) => new Date(t0.getTime() + sec * 1000)

describe('lock schedule', () => {
  it('is free for the first failures, then doubles from the base up to the cap', () => {
    const schedule = Array.from({ length: 18 }, (_, i) => lockSecondsAfter(i + 1, P))
    expect(schedule).toEqual([0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900])
  })

  it('never exceeds the cap, however many failures (no permanent lock)', () => {
    for (const n of [20, 50, 1000, 1e6, Number.MAX_SAFE_INTEGER]) expect(lockSecondsAfter(n, P)).toBe(900)
  })
})

describe('deciding an attempt before the password is checked', () => {
  it('a first attempt is allowed and counted in advance as a failure', () => {
    expect(decideAttempt(null, t0, P)).toEqual({ allowed: true, next: { failures: 1, lastFailureAt: t0, lockedUntil: null } })
  })

  it('the attempt after the free ones sets the first lock', () => {
    const state: AttemptState = { failures: 5, lastFailureAt: t0, lockedUntil: null }
    expect(decideAttempt(state, at(2), P)).toEqual({ allowed: true, next: { failures: 6, lastFailureAt: at(2), lockedUntil: at(3) } })
  })

  it('while locked: refused with the seconds left, and nothing changes', () => {
    const state: AttemptState = { failures: 8, lastFailureAt: t0, lockedUntil: at(8) }
    expect(decideAttempt(state, at(2.5), P)).toEqual({ allowed: false, retryAfterSec: 6 })
    expect(decideAttempt(state, at(7.999), P)).toEqual({ allowed: false, retryAfterSec: 1 })
  })

  it('once the lock has run out, one more attempt is allowed and the next lock doubles', () => {
    const state: AttemptState = { failures: 8, lastFailureAt: t0, lockedUntil: at(8) }
    expect(decideAttempt(state, at(8), P)).toEqual({ allowed: true, next: { failures: 9, lastFailureAt: at(8), lockedUntil: at(16) } })
  })

  it('a counter quiet for the reset period starts again from zero', () => {
    const state: AttemptState = { failures: 12, lastFailureAt: t0, lockedUntil: at(128) }
    expect(decideAttempt(state, at(3600), P)).toEqual({ allowed: true, next: { failures: 1, lastFailureAt: at(3600), lockedUntil: null } })
    expect(decideAttempt(state, at(3599), P)).toMatchObject({ allowed: true, next: { failures: 13 } })
  })

  it('an attacker failing once per lock never gets more than one guess per cap period', () => {
    let state: AttemptState | null = null
    let now = 0
    let guesses = 0
    while (now < 24 * 3600) {
      const d = decideAttempt(state, at(now), P)
      if (d.allowed) {
        guesses++
        state = d.next
        now += Math.max(1, lockSecondsAfter(d.next.failures, P))
      } else {
        now += d.retryAfterSec
      }
    }
    // 5 free, then 1, 2, 4, … 512 s, then one per 900 s for the rest of the day.
    expect(guesses).toBeLessThan(5 + 10 + 24 * 4 + 1)
  })
})

describe('keys', () => {
  it('the attempt key is the same for every spelling of an address, differs per client, and hides both', () => {
    const ip = '203.0.113.7'
    expect(attemptKey(' Ada@Example.COM ', ip)).toBe(attemptKey('ada@example.com', ip))
    expect(attemptKey('ada@example.com', ip)).not.toBe(attemptKey('bob@example.com', ip))
    expect(attemptKey('ada@example.com', ip)).not.toBe(attemptKey('ada@example.com', '203.0.113.8'))
    expect(attemptKey('ada@example.com', '2001:db8:1:2::1')).toBe(attemptKey('ada@example.com', '2001:db8:1:2::9'))
    expect(attemptKey('ada@example.com', ip)).toMatch(/^[0-9a-f]{64}$/)
    // An invalid address is still a key, so it costs what a valid unknown one costs; and no
    // address a client can send makes another pair's key.
    expect(attemptKey('not an email', ip)).toMatch(/^[0-9a-f]{64}$/)
    expect(attemptKey(`ada@example.com\n${ip}`, '')).not.toBe(attemptKey('ada@example.com', ip))
  })

  it('the IP key is one IPv4 address or one IPv6 /64', () => {
    expect(ipKey('203.0.113.7')).toBe('203.0.113.7')
    expect(ipKey('::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(ipKey('2001:db8:1:2:aaaa::1')).toBe(ipKey('2001:db8:1:2:ffff::9'))
    expect(ipKey('2001:db8:1:2::1')).not.toBe(ipKey('2001:db8:1:3::1'))
  })
})

describe('per-session refresh window (takeFromWindow)', () => {
  const at = (ms: number) => new Date(ms)
  const run = (times: number[], max: number, windowMs: number) => {
    let state: WindowState = { start: null, count: 0 }
    return times.map((t) => {
      const d = takeFromWindow(state, at(t), max, windowMs)
      if (d.allowed) state = d.next
      return d.allowed ? 'ok' : d.retryAfterSec
    })
  }

  it('allows max per window, then refuses with the seconds to the window end', () => {
    expect(run([0, 1000, 2000, 10_000, 59_500, 60_000], 3, 60_000)).toEqual(['ok', 'ok', 'ok', 50, 1, 'ok'])
  })

  it('a refused event leaves the window as it was: the window still ends on time', () => {
    const full: WindowState = { start: at(0), count: 1 }
    expect(takeFromWindow(full, at(500), 1, 1000)).toEqual({ allowed: false, retryAfterSec: 1 })
    expect(takeFromWindow(full, at(1000), 1, 1000)).toEqual({ allowed: true, next: { start: at(1000), count: 1 } })
  })

  it('a first event opens a window at its own time', () => {
    expect(takeFromWindow({ start: null, count: 0 }, at(42), 5, 1000)).toEqual({ allowed: true, next: { start: at(42), count: 1 } })
  })
})
