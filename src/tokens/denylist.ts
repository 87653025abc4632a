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
//
// Each entry keeps when and why its session was revoked, and an observer (the revocation feed,
// src/oauth/feed.ts) hears every sid the list learns, in the order it learns them.
import type pg from 'pg'
import { REVOCATION_CHANNEL, type RevokeReason } from './token-store.js'

export interface RevokedRow {
  id: string
  revokedAt: Date
  /** null for a row revoked before reasons were recorded, or with one this version does not know */
  reason: string | null
}

export interface DenylistSource {
  revokedSince(since: Date | null, lookbackMs: number): Promise<{ now: Date; families: RevokedRow[] }>
  /** which of `ids` are revoked, when and why */
  revokedAmong(ids: string[]): Promise<RevokedRow[]>
}

/** One revoked session, as the denylist holds it. */
export interface DenylistEntry {
  sid: string
  /** ms since the epoch: the database's clock, or this instance's until the next catch-up */
  revokedAt: number
  reason: RevokeReason | 'unknown'
}

// Entries are one number each (revokedAt * 16 + the reason's index), which keeps the list at
// the size the README states per revoked session; a Map of objects would about double it.
const REASONS: (RevokeReason | 'unknown')[] = ['unknown', 'logout', 'reuse_detected', 'password_changed', 'admin', 'user_revoked', 'password_reset', 'email_change_undone']
const REASON_SLOTS = 16
const pack = (revokedAt: number, reason: string | null) => revokedAt * REASON_SLOTS + Math.max(0, REASONS.indexOf(reason as RevokeReason))
const unpack = (sid: string, packed: number): DenylistEntry => ({
  sid,
  revokedAt: Math.floor(packed / REASON_SLOTS),
  reason: REASONS[packed % REASON_SLOTS] ?? 'unknown',
})

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
  /** sid -> revoked_at (ms) and reason, packed (see pack) */
  private readonly entries = new Map<string, number>()
  private readonly observers = new Set<(entry: DenylistEntry) => void>()
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

  /** how long after revokedAt an entry matters (the access-token lifetime plus the timeouts) */
  get retainMs(): number {
    return this.opts.retainMs
  }

  /**
   * Up to when (database clock, ms) the list is complete: the last catch-up's time less the
   * commit-lag margin. Every revocation dated before it has been added, and heard by the
   * observers. null before the first catch-up.
   */
  get completeUntil(): number | null {
    return this.cursor?.getTime() ?? null
  }

  /** Every entry revoked at or after `since` (ms), oldest first. */
  entriesSince(since: number): DenylistEntry[] {
    const out: DenylistEntry[] = []
    for (const [sid, packed] of this.entries) {
      const entry = unpack(sid, packed)
      if (entry.revokedAt >= since) out.push(entry)
    }
    return out.sort((a, b) => a.revokedAt - b.revokedAt)
  }

  /** Hears each sid the first time the list learns it; returns the unsubscribe. */
  observe(listener: (entry: DenylistEntry) => void): () => void {
    this.observers.add(listener)
    return () => this.observers.delete(listener)
  }

  /**
   * Immediate local effect for revocations made by this instance. Uses the local clock where
   * the rest uses the database's; skew between them only shifts when the entry is dropped, and
   * the next catch-up rewrites it with the database's time.
   */
  add(sid: string, reason: RevokeReason, revokedAt = Date.now()): void {
    this.set(sid, revokedAt, reason)
  }

  private set(sid: string, revokedAt: number, reason: string | null): void {
    const known = this.entries.has(sid)
    this.entries.set(sid, pack(revokedAt, reason))
    if (known || this.observers.size === 0) return
    const entry = unpack(sid, this.entries.get(sid)!)
    for (const listener of this.observers) listener(entry)
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
    for (const f of families) this.set(f.id, f.revokedAt.getTime(), f.reason)
    this.cursor = new Date(now.getTime() - COMMIT_LAG_MARGIN_MS)
    this.prune(now)
  }

  private prune(now: Date): void {
    // revokedAt + retainMs <= now: every token that could carry it has expired
    const oldest = (now.getTime() - this.opts.retainMs + 1) * REASON_SLOTS
    for (const [sid, packed] of this.entries) if (packed < oldest) this.entries.delete(sid)
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
        for (const f of await this.source.revokedAmong(ids)) this.set(f.id, f.revokedAt.getTime(), f.reason)
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
