// Mails one address can be sent by anonymous requests (register, forgot password, resend
// verification), counted where every instance sees them (Postgres, or Redis with REDIS_URL). Keyed by the SHA-256 of
// the normalised address whether or not it has an account, and counted before anything looks
// the account up: a limited address answers 429 whoever owns it, so the limit tells nothing.
// A store that fails answers 503 (failingAs503).
import { createHash } from 'node:crypto'
import { ApiError } from '../errors.js'
import type { CounterBackend } from './rate-limit-store.js'

export class AddressLimit {
  constructor(
    private readonly counters: Pick<CounterBackend, 'hit'>,
    private readonly max: number,
    private readonly windowSec: number,
  ) {}

  /** Counts one mail-sending request for `email`; 429 with Retry-After past the limit. */
  async take(email: string): Promise<void> {
    const key = createHash('sha256').update(`mail-per-address\n${email}`, 'utf8').digest('hex')
    const hit = await this.counters.hit(key, this.windowSec * 1000)
    if (hit.count > this.max) {
      throw new ApiError('too_many_requests', 'Too many mails asked for this address; retry after Retry-After.', Math.max(1, Math.ceil(hit.ttlMs / 1000)))
    }
  }
}
