// Records audit events: a structured log line at once, and a row for the account's owner.
//
// A login's row is written by the statement that starts its session (TokenStore.createFamily);
// this log stamps it and logs it. Rows for other frequent events (refreshes, failed logins)
// are written off the request's path, batched:
// they wait in memory for at most FLUSH_DELAY_MS and go in one multi-row INSERT, one batch at
// a time, so under load the trail costs a fraction of a connection rather than one statement
// per request, and a login for an unknown address costs exactly what a wrong password costs.
// Rows for rare events that must not be missed (reuse detected, revocations, password
// changes) are written before the request answers. A failed write is retried and, if it still
// fails, logged with every event it held, so the log always has them. Pending rows are written
// before this instance reads the trail, and when the app closes.
import { isTransientDbError } from '../db/transient.js'
import type { Position } from './cursor.js'
import type { AuditEvent, StoredAuditEvent } from './events.js'

export interface AuditWriter {
  insert(events: AuditEvent[]): Promise<void>
  listForUser(userId: string, limit: number, after: Position | null): Promise<StoredAuditEvent[]>
}

export interface AuditLogger {
  info(obj: object, msg: string): void
  debug(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

// A refresh is routine: every client makes one every few minutes, and a line for each would be
// most of a production log (and a measurable share of a refresh's CPU). Its row is stored
// like any other; its line is written at debug. Everything else is logged at info.
const ROUTINE: ReadonlySet<AuditEvent['type']> = new Set(['refresh'])

const FLUSH_DELAY_MS = 50
const MAX_BATCH = 1000
// While the database is down the buffer stops growing here; what is dropped stays in the log.
const MAX_BUFFERED = 50_000
const RETRY_DELAYS_MS = [50, 250, 1000]

export class AuditLog {
  private buffer: AuditEvent[] = []
  private lastStamp = 0
  private timer: NodeJS.Timeout | null = null
  private flushing: Promise<void> | null = null

  constructor(
    private readonly store: AuditWriter,
    private readonly log: AuditLogger,
  ) {}

  /** Logs now; stores the rows with the next batch. */
  record(...recorded: AuditEvent[]): void {
    const events = this.stamped(recorded)
    this.logAll(events)
    const stored = events.filter((e) => e.userId !== null)
    if (stored.length === 0) return
    if (this.buffer.length + stored.length > MAX_BUFFERED) {
      this.log.error({ lost: stored }, 'audit buffer full; events kept in the log only')
      return
    }
    this.buffer.push(...stored)
    this.timer ??= setTimeout(() => {
      this.timer = null
      void this.flush()
    }, FLUSH_DELAY_MS)
  }

  /** A time for an event whose row the caller's own statement writes, in this log's order. */
  stamp(): Date {
    this.lastStamp = Math.max(Date.now(), this.lastStamp + 1)
    return new Date(this.lastStamp)
  }

  /** Logs events whose rows the caller's own statement has written (stamped by stamp()). */
  logged(...events: AuditEvent[]): void {
    this.logAll(events)
  }

  /** Logs now; resolves once the rows are stored (or given up on, and logged as lost). */
  async recordNow(...recorded: AuditEvent[]): Promise<void> {
    const events = this.stamped(recorded)
    this.logAll(events)
    if (events.some((e) => e.userId !== null)) await this.write(events)
  }

  /** A user's events, newest first, including every event this instance has recorded. */
  async listForUser(userId: string, limit: number, after: Position | null): Promise<StoredAuditEvent[]> {
    await this.settled()
    return this.store.listForUser(userId, limit, after)
  }

  /** Resolves once every event recorded so far is stored (or logged as lost). */
  async settled(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = null
    }
    while (this.buffer.length > 0 || this.flushing) await this.flush()
  }

  // One batch at a time: a flush that finds another running waits for it, then takes what
  // has accumulated meanwhile.
  private async flush(): Promise<void> {
    if (this.flushing) return this.flushing
    if (this.buffer.length === 0) return
    const batch = this.buffer.splice(0, MAX_BATCH)
    this.flushing = this.write(batch).finally(() => {
      this.flushing = null
      if (this.buffer.length > 0) this.timer ??= setTimeout(() => {
        this.timer = null
        void this.flush()
      }, 0)
    })
    return this.flushing
  }

  // Rows are written in batches, so their time is taken when they are recorded. Strictly
  // increasing per process: the trail of one instance reads in the order things happened,
  // even when several happen within a millisecond (the table keeps milliseconds).
  private stamped(events: AuditEvent[]): AuditEvent[] {
    return events.map((e) => ({ ...e, createdAt: this.stamp() }))
  }

  private logAll(events: AuditEvent[]): void {
    for (const e of events) {
      const level = ROUTINE.has(e.type) ? 'debug' : 'info'
      this.log[level](
        {
          audit: {
            type: e.type,
            userId: e.userId,
            sid: e.familyId ?? null,
            reason: e.reason ?? null,
            ip: e.ip ?? null,
            userAgent: e.userAgent ?? null,
          },
        },
        `audit ${e.type}`,
      )
    }
  }

  private async write(events: AuditEvent[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.insert(events)
        return
      } catch (err) {
        const delay = RETRY_DELAYS_MS[attempt]
        if (delay === undefined || !isTransientDbError(err)) {
          this.log.error({ err, lost: events }, 'audit events could not be stored')
          return
        }
        await new Promise((r) => setTimeout(r, delay))
      }
    }
  }
}
