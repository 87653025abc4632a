// The per-account ceiling on failed logins (the policy is in proof-of-work.ts): the proof a
// login brings, and the challenge it gets when it needs a harder one. The count itself is the
// first step of the login's gate statement (auth.open_login), before the per-address counter
// and argon2, so a login turned away for want of a proof costs that one statement: no argon2,
// no failure counted anywhere.
//
// The counter lives in login_attempts under accountKey() (the address alone), counted in
// advance like the per-address one and reset with it by a correct password. Spent proofs are
// remembered in the shared counters (rate_limit_counters, or Redis) until their challenge
// expires, so one solution buys one attempt: replaying a solved request cannot make the server
// run argon2 again and again.
import { createHash, randomBytes } from 'node:crypto'
import { ProofOfWorkRequired } from '../errors.js'
import type { CounterBackend } from './rate-limit-store.js'
import { accountKey } from './policy.js'
import { challengeBits, checkProof, failuresAllowedBelow, issueChallenge, type Proof, type ProofOfWorkPolicy } from './proof-of-work.js'

export interface AccountCeilingDeps {
  counters: Pick<CounterBackend, 'hit'>
  policy: ProofOfWorkPolicy
  /** the HMAC key of the challenges; the same on every instance */
  key: Buffer
  nowSec?: () => number
}

export interface Admission {
  /** the account's counter in login_attempts */
  key: string
  /** the proof's difficulty, 0 without a valid one */
  bits: number
  /** the attempt counts (and goes on to argon2) while the account has fewer failures than this */
  below: number
}

export class AccountCeiling {
  private readonly nowSec: () => number

  constructor(private readonly d: AccountCeilingDeps) {
    this.nowSec = d.nowSec ?? (() => Math.floor(Date.now() / 1000))
  }

  /**
   * Checks the proof, if any, and spends it (one solution buys one attempt). What the login's
   * gate statement needs: the account's counter key and the failures below which it counts the
   * attempt (LoginAttemptStore.open).
   */
  async admit(rawEmail: string, password: string, proof: Proof | null): Promise<Admission> {
    return this.admitKey(accountKey(rawEmail), password, proof)
  }

  /** admit() for another counter (a second factor's: mfaAccountKey), the proof binding `secret`. */
  async admitKey(key: string, secret: string, proof: Proof | null): Promise<Admission> {
    let bits = 0
    if (proof) {
      const now = this.nowSec()
      const checked = checkProof(this.d.key, key, proof, secret, now, this.d.policy)
      if (checked.bits > 0 && (await this.spend(proof, checked.expiresAtSec - now))) bits = checked.bits
    }
    return { key, bits, below: failuresAllowedBelow(bits, this.d.policy) }
  }

  /** The answer when the gate did not count the attempt: 401 with a new, harder challenge. */
  refuse(admission: Admission, failures: number): ProofOfWorkRequired {
    const difficulty = challengeBits(failures, admission.bits, this.d.policy)
    const now = this.nowSec()
    return new ProofOfWorkRequired(issueChallenge(this.d.key, admission.key, difficulty, now, randomBytes(16).toString('base64url'), this.d.policy), difficulty)
  }

  /** True the first time a proof is presented, false after. */
  private async spend(proof: Proof, ttlSec: number): Promise<boolean> {
    const id = createHash('sha256').update(`login-proof\n${proof.challenge}\n${proof.nonce}`, 'utf8').digest('hex')
    const { count } = await this.d.counters.hit(id, Math.max(1, ttlSec) * 1000)
    return count === 1
  }
}
