// The only module that reads or writes rate_limit_counters: fixed-window counters every
// instance shares. Windows are timed on the database's clock, so instances whose clocks
// disagree still agree on when a window ends.
import { execute, rows, sql, type Queryable } from '../db/sql.js'

export interface WindowHit {
  /** requests counted in the current window, this one included */
  count: number
  /** ms until the window ends */
  ttlMs: number
}

export class CounterStore {
  constructor(private readonly db: Queryable) {}

  /**
   * Counts one request under `key` (already a SHA-256 hex) in a window of `windowMs`: one
   * statement, atomic under concurrency. A window that has ended starts again at 1.
   */
  async hit(key: string, windowMs: number): Promise<WindowHit> {
    // auth.hit_rate_limit_counter: the same count the login's gate statement takes.
    const [row] = await rows<{ count: number; ttl_ms: number }>(this.db, sql`
      SELECT count, ttl_ms FROM auth.hit_rate_limit_counter(${key}::char(64), ${Math.round(windowMs)}::bigint)`)
    return { count: row!.count, ttlMs: row!.ttl_ms }
  }

  /** Deletes up to `limit` counters whose window has ended; returns how many. */
  async deleteExpired(limit: number): Promise<number> {
    return execute(this.db, sql`
      DELETE FROM auth.rate_limit_counters WHERE key IN (
        SELECT key FROM auth.rate_limit_counters
        WHERE expires_at < now()
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)`)
  }
}
