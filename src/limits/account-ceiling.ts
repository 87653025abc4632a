// The per-account ceiling on failed logins (the policy is in proof-of-work.ts): the gate at
// the start of a login. It runs before the per-address counter and argon2, so a login turned
// away for want of a proof costs one statement: no argon2, no failure counted anywhere.
//
// The counter lives in login_attempts under accountKey() (the address alone), counted in
// advance like the per-address one and reset with it by a correct password. Spent proofs are
// remembered in rate_limit_counters until their challenge expires, so one solution buys one
// attempt: replaying a solved request cannot make the server run argon2 again and again.
import { createHash, randomBytes } from 'node:crypto'
import { ProofOfWorkRequired } from '../errors.js'
import type { CounterStore } from './counter-store.js'
import type { LoginAttemptStore } from './login-attempt-store.js'
import { accountKey } from './policy.js'
import { challengeBits, checkProof, failuresAllowedBelow, issueChallenge, type Proof, type ProofOfWorkPolicy } from './proof-of-work.js'

export interface AccountCeilingDeps {
  attempts: LoginAttemptStore
  counters: CounterStore
  policy: ProofOfWorkPolicy
  /** failures are forgotten after this long without one (LOGIN_FAILURE_RESET_SEC) */
  resetSec: number
  /** the HMAC key of the challenges; the same on every instance */
  key: Buffer
  nowSec?: () => number
}

export class AccountCeiling {
  private readonly nowSec: () => number

  constructor(private readonly d: AccountCeilingDeps) {
    this.nowSec = d.nowSec ?? (() => Math.floor(Date.now() / 1000))
  }

  /**
   * Counts this attempt against the account, or throws ProofOfWorkRequired (401 with a new
   * challenge) when the account needs a harder proof than the one given. Returns the
   * account's counter key, for the reset after a correct password.
   */
  async pass(rawEmail: string, password: string, proof: Proof | null): Promise<string> {
    const key = accountKey(rawEmail)
    const now = this.nowSec()
    let bits = 0
    if (proof) {
      const checked = checkProof(this.d.key, key, proof, password, now, this.d.policy)
      if (checked.bits > 0 && (await this.spend(proof, checked.expiresAtSec - now))) bits = checked.bits
    }
    const below = failuresAllowedBelow(bits, this.d.policy)
    const { counted, failures } = await this.d.attempts.countIfBelow(key, below, this.d.resetSec)
    if (counted) return key
    const difficulty = challengeBits(failures, bits, this.d.policy)
    throw new ProofOfWorkRequired(issueChallenge(this.d.key, key, difficulty, now, randomBytes(16).toString('base64url'), this.d.policy), difficulty)
  }

  /** True the first time a proof is presented, false after. */
  private async spend(proof: Proof, ttlSec: number): Promise<boolean> {
    const id = createHash('sha256').update(`login-proof\n${proof.challenge}\n${proof.nonce}`, 'utf8').digest('hex')
    const { count } = await this.d.counters.hit(id, Math.max(1, ttlSec) * 1000)
    return count === 1
  }
}
