// Brute-force and rate-limit decisions, as pure functions of state and a clock.
//
// - Per client IP (login, register): a generous fixed window, because offices and mobile
//   carriers put many people behind one address. It caps credential stuffing from one place.
// - Per account and source (login, password change): consecutive failures for one address
//   from one client IP lock that pair for a time that doubles with each failure, capped, and
//   forgotten after a quiet period. The lock is always temporary, and attempts during it change
//   nothing (they cannot extend it). Keyed by source as well as account (as Auth0's brute-force
//   protection is), so an attacker who keeps failing locks out only their own address, never
//   the owner logging in from elsewhere; guessing from many addresses is what the per-account
//   proof of work below, the per-IP limit and the password rules are for. The key hashes the normalised email whether or not an
//   account has it, so neither the answer nor the counter tells whether it is registered.
// - Per account alone (login): past a threshold of failures from all addresses together, a
//   proof of work, never a lock (proof-of-work.ts). It slows a guesser who spreads over many
//   addresses, which the per-source lock cannot see.
// - Per session (refresh): a fixed window per token family, counting rotations only (a replay
//   hands out nothing new), wide enough for a burst of tabs and a client's retries. A limited
//   refresh changes nothing and is never a logout.
import { createHash } from 'node:crypto'
import { normalizeIP } from '@fastify/rate-limit'
import { canonicalEmail } from '../users/email.js'

export interface LockoutPolicy {
  /** failures allowed before the first lock */
  freeFailures: number
  baseSec: number
  maxSec: number
  /** a counter with no failure for this long starts again from zero */
  resetSec: number
}

export interface AttemptState {
  failures: number
  lastFailureAt: Date
  lockedUntil: Date | null
}

export type AttemptDecision =
  | { allowed: true; next: AttemptState }
  | { allowed: false; retryAfterSec: number }

/** Seconds of lock after the n-th consecutive failure: 0, …, 0, base, 2·base, 4·base, …, max. */
export function lockSecondsAfter(failures: number, p: LockoutPolicy): number {
  const over = failures - p.freeFailures
  if (over <= 0) return 0
  // 2^30 seconds is decades: past that only the cap matters, and the shift stays exact.
  return Math.min(p.baseSec * 2 ** Math.min(over - 1, 30), p.maxSec)
}

/**
 * Before a password is checked. While locked: refused, and nothing changes. Otherwise the
 * attempt is counted as a failure *in advance* and the lock it would earn is set, so that
 * parallel guesses cannot all slip in before the first failure is written; a correct password
 * then resets the counter.
 */
export function decideAttempt(state: AttemptState | null, now: Date, p: LockoutPolicy): AttemptDecision {
  if (state?.lockedUntil && state.lockedUntil > now) {
    return { allowed: false, retryAfterSec: Math.max(1, Math.ceil((state.lockedUntil.getTime() - now.getTime()) / 1000)) }
  }
  const stale = !state || now.getTime() - state.lastFailureAt.getTime() >= p.resetSec * 1000
  // Capped where the column is: SQL (auth.claim_login_attempt) runs this rule on an integer.
  const failures = Math.min((stale ? 0 : state.failures) + 1, 2_147_483_647)
  const lockSec = lockSecondsAfter(failures, p)
  return {
    allowed: true,
    next: { failures, lastFailureAt: now, lockedUntil: lockSec > 0 ? new Date(now.getTime() + lockSec * 1000) : null },
  }
}

/**
 * The failure counter's key for an address tried from a client IP: the same for every spelling
 * of the address, known or not, and for every client in one IPv6 /64. A hash, so the table
 * holds neither addresses nor IPs.
 */
export function attemptKey(rawEmail: string, ip: string): string {
  // An IP key has no newline, so the last one splits the string back into its pair: no two
  // (email, ip) pairs share a key, whatever a client puts in the email.
  return createHash('sha256').update(`${canonicalEmail(rawEmail)}\n${ipKey(ip)}`, 'utf8').digest('hex')
}

/**
 * The per-account failure counter's key (proof-of-work.ts): the address alone, whatever the
 * client IP. Built like attemptKey with "*" in place of the IP key, which no IP key ever is,
 * so it never meets a per-address key in login_attempts.
 */
export function accountKey(rawEmail: string): string {
  return createHash('sha256').update(`${canonicalEmail(rawEmail)}\n*`, 'utf8').digest('hex')
}

/**
 * The second factor's counters (a code typed after the right password): the same lock per
 * account and client IP, and the same proof of work per account, as a password's, under keys of
 * their own. Keyed by the account's id ("mfa" and a newline first, which no email key can start
 * with: an address has no newline), so a guesser of codes never touches the password's counters.
 */
export function mfaAttemptKey(userId: string, ip: string): string {
  return createHash('sha256').update(`mfa\n${userId}\n${ipKey(ip)}`, 'utf8').digest('hex')
}

export function mfaAccountKey(userId: string): string {
  return createHash('sha256').update(`mfa\n${userId}\n*`, 'utf8').digest('hex')
}

/** The per-IP limit's key: one IPv4 address, or one IPv6 /64 (what one subscriber gets). */
export function ipKey(ip: string): string {
  return normalizeIP(ip, 64)
}

/** A fixed window of counted events: when it started (null: never) and how many it holds. */
export interface WindowState {
  start: Date | null
  count: number
}

export type WindowDecision = { allowed: true; next: WindowState } | { allowed: false; retryAfterSec: number }

/**
 * One more event in a fixed window of `windowMs` holding at most `max`. The state lives with
 * what it limits (the per-session refresh limit: in the token family's row), so every
 * instance sees the same count. A refused event leaves the state as it was.
 */
export function takeFromWindow(state: WindowState, now: Date, max: number, windowMs: number): WindowDecision {
  const open = state.start !== null && now.getTime() - state.start.getTime() < windowMs
  const window = open ? state : { start: now, count: 0 }
  if (window.count >= max) {
    return { allowed: false, retryAfterSec: Math.max(1, Math.ceil((window.start!.getTime() + windowMs - now.getTime()) / 1000)) }
  }
  return { allowed: true, next: { start: window.start, count: window.count + 1 } }
}
