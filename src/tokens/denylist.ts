// Families revoked within the last access-token lifetime, held in memory on every instance,
// so the protected path can refuse a logged-out session's access tokens without a query.
//
// Kept current three ways: a full load at start, Postgres LISTEN/NOTIFY (each revocation
// notifies at commit), and a periodic catch-up query that covers a lost notification or a
// dropped listener connection. A notification is only a hint: any role that can connect can
// send one, so its payload must be a session id and the row must say the family is revoked
// (one query per batch of notifications, never per request). An entry is dropped once every
// access token that could carry its sid has expired: memory is bounded by revocations per
// access-token lifetime.
import type pg from 'pg'
import { REVOCATION_CHANNEL } from './token-store.js'

export interface DenylistSource {
  revokedSince(since: Date | null, lookbackMs: number): Promise<{ now: Date; families: { id: string; revokedAt: Date }[] }>
  /** which of `ids` are revoked, and when */
  revokedAmong(ids: string[]): Promise<{ id: string; revokedAt: Date }[]>
}

export interface DenylistOptions {
  /** a connection that can LISTEN: direct to Postgres, never through a transaction pooler */
  connectListener(): Promise<ListenConnection>
  /**
   * how long a revoked sid must be remembered after revoked_at: the access-token lifetime, plus
   * the longest a request that held the family's lock before the revocation can take to sign
   * its token (the lock and statement timeouts)
   */
  retainMs: number
  syncIntervalMs: number
  log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void }
}

// A transaction's now() is its start time, but it becomes visible at commit; looking back this
// far on every catch-up covers revocations that committed after a previous scan.
const COMMIT_LAG_MARGIN_MS = 30_000
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
// Notifications awaiting confirmation; past this a flood is left to the catch-up query.
const MAX_PENDING = 10_000
const CONFIRM_BATCH = 1_000

/**
 * How long after revoked_at a revoked sid stays on the denylist: the access-token lifetime,
 * plus the lock and statement timeouts, the longest a request that read the family unrevoked
 * (a rotation or replay the revocation queued behind) can take to sign its access token.
 */
export function denylistRetentionMs(accessTtlSec: number, db: { lockTimeoutMs: number; statementTimeoutMs: number }): number {
  return accessTtlSec * 1000 + db.lockTimeoutMs + db.statementTimeoutMs
}

export interface ListenConnection {
  client: pg.ClientBase
  close(): Promise<void>
}

export class Denylist {
  /** sid -> time (ms, database clock) after which no live access token can carry it */
  private readonly entries = new Map<string, number>()
  // null until the first sync, which loads the last access-token lifetime of revocations.
  private cursor: Date | null = null
  private listener: ListenConnection | null = null
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private reconnectDelayMs = 100
  private readonly pending = new Set<string>()
  private confirming: Promise<void> | null = null

  constructor(
    private readonly source: DenylistSource,
    private readonly opts: DenylistOptions,
  ) {}

  has(sid: string): boolean {
    return this.entries.has(sid)
  }

  get size(): number {
    return this.entries.size
  }

  /**
   * Immediate local effect for revocations made by this instance or heard by NOTIFY. Uses the
   * local clock where the rest uses the database's; skew between them only shifts when the
   * entry is dropped, and the next catch-up rewrites it with the database's time.
   */
  add(sid: string, revokedAt = Date.now()): void {
    this.entries.set(sid, revokedAt + this.opts.retainMs)
  }

  async start(): Promise<void> {
    await this.listen()
    await this.catchUp()
    this.schedule()
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    const l = this.listener
    this.listener = null
    await l?.close().catch(() => undefined)
  }

  async catchUp(): Promise<void> {
    const { now, families } = await this.source.revokedSince(this.cursor, this.opts.retainMs + COMMIT_LAG_MARGIN_MS)
    for (const f of families) this.entries.set(f.id, f.revokedAt.getTime() + this.opts.retainMs)
    this.cursor = new Date(now.getTime() - COMMIT_LAG_MARGIN_MS)
    this.prune(now)
  }

  private prune(now: Date): void {
    const t = now.getTime()
    for (const [sid, until] of this.entries) if (until <= t) this.entries.delete(sid)
  }

  private schedule(): void {
    if (this.closed) return
    this.timer = setTimeout(() => {
      this.catchUp()
        .catch((err) => this.opts.log.warn({ err }, 'denylist catch-up failed; retrying'))
        .finally(() => this.schedule())
    }, this.opts.syncIntervalMs)
    this.timer.unref()
  }

  private async listen(): Promise<void> {
    const connection = await this.opts.connectListener()
    const { client } = connection
    const onNotification = (msg: pg.Notification) => {
      if (msg.channel === REVOCATION_CHANNEL && msg.payload) this.heard(msg.payload)
    }
    const onLost = (err?: Error) => {
      if (this.listener !== connection) return
      this.listener = null
      client.removeListener('notification', onNotification)
      connection.close().catch(() => undefined)
      if (this.closed) return
      this.opts.log.warn({ err }, 'denylist listener lost; reconnecting (catch-up covers the gap)')
      this.reconnectLater()
    }
    client.on('notification', onNotification)
    client.on('error', onLost)
    client.on('end', () => onLost())
    try {
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`)
    } catch (err) {
      await connection.close().catch(() => undefined)
      throw err
    }
    this.listener = connection
    this.reconnectDelayMs = 100
  }

  private heard(payload: string): void {
    if (!SESSION_ID.test(payload) || this.entries.has(payload) || this.pending.size >= MAX_PENDING) return
    this.pending.add(payload)
    this.confirming ??= this.confirm().finally(() => {
      this.confirming = null
    })
  }

  // One query for every notification heard meanwhile; a failure leaves them to the catch-up.
  private async confirm(): Promise<void> {
    await new Promise((r) => setImmediate(r))
    while (this.pending.size > 0 && !this.closed) {
      const ids = [...this.pending].slice(0, CONFIRM_BATCH)
      for (const id of ids) this.pending.delete(id)
      try {
        for (const f of await this.source.revokedAmong(ids)) this.entries.set(f.id, f.revokedAt.getTime() + this.opts.retainMs)
      } catch (err) {
        this.opts.log.warn({ err }, 'denylist could not confirm notified revocations; the catch-up will')
      }
    }
  }

  private reconnectLater(): void {
    const delay = this.reconnectDelayMs
    this.reconnectDelayMs = Math.min(delay * 2, 5_000)
    setTimeout(() => {
      if (this.closed) return
      this.listen()
        .then(() => this.catchUp())
        .catch((err) => {
          this.opts.log.debug({ err }, 'denylist listener reconnect failed')
          this.reconnectLater()
        })
    }, delay).unref()
  }
}
