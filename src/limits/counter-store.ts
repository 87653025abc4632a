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
    const [row] = await rows<{ count: number; ttl_ms: number }>(this.db, sql`
      INSERT INTO auth.rate_limit_counters AS c (key, count, expires_at)
      VALUES (${key}::char(64), 1, now() + make_interval(secs => ${windowMs / 1000}::float8))
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN c.expires_at <= now() THEN 1 ELSE LEAST(c.count + 1, 2147483647) END,
        expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
      RETURNING count, GREATEST(0, ceil(extract(epoch FROM expires_at - now()) * 1000))::int AS ttl_ms`)
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
