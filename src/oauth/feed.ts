// The revocation feed: every session this instance's denylist knows to be revoked, streamed to
// registered services (confidential clients) as Server-Sent Events.
//
// - On connect, every entry revoked since the subscriber's cursor (its Last-Event-ID) less the
//   commit-lag margin, or everything held when it has none; then each new entry as the
//   denylist learns it (NOTIFY, a local revocation, or the catch-up query).
// - Every `heartbeatMs`, a `sync` event whose id is the cursor: the database time up to which
//   the denylist is complete (its last catch-up less the margin), with `retain_ms` (how long an
//   entry matters) and `access_token_ttl_s` (the longest-lived token a subscriber may accept:
//   it keeps each entry for retain_ms, which covers that lifetime and no longer).
//
// Events are idempotent and only matter for one access-token lifetime, so a cursor in time is
// all a subscriber needs to resume, on any instance; see README: Services that verify tokens.
import type { ServerResponse } from 'node:http'
import { createPrivateKey, type KeyObject } from 'node:crypto'
import type { Denylist, DenylistEntry } from '../tokens/denylist.js'
import { sessionRevokedClaims, signSecurityEvent } from './security-events.js'

// The denylist's own margin: an entry may be dated up to this long before a cursor that was
// sent after it was learnt (its clock was this instance's until the next catch-up).
export const FEED_MARGIN_MS = 30_000
// A subscriber that reads slower than we write is cut off past this much unsent output; it
// reconnects with its cursor and loses nothing.
const MAX_BUFFERED_BYTES = 1 << 20

export interface FeedOptions {
  denylist: Denylist
  issuer: string
  accessTtlSec: number
  heartbeatMs: number
  key: { kid: string; signKey: string }
}

interface Subscriber {
  res: ServerResponse
  audience: string
}

export class RevocationFeed {
  private readonly subscribers = new Set<Subscriber>()
  private readonly privateKey: KeyObject
  private timer: NodeJS.Timeout | null = null
  private stopObserving: (() => void) | null = null

  constructor(private readonly opts: FeedOptions) {
    this.privateKey = createPrivateKey(opts.key.signKey)
  }

  get size(): number {
    return this.subscribers.size
  }

  /**
   * Streams to `res` (already hijacked from Fastify) for the confidential client `audience`,
   * from `lastEventId`. Ends when the subscriber goes away or end() is called.
   */
  subscribe(res: ServerResponse, audience: string, lastEventId: string | undefined): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // nginx and friends buffer responses unless told not to: events would arrive late.
      'x-accel-buffering': 'no',
    })
    res.socket?.setNoDelay(true)
    const subscriber = { res, audience }
    const cursor = lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : null
    const since = cursor === null ? 0 : cursor - FEED_MARGIN_MS
    // Replay and the first sync in one write: the subscriber is current when it has read both.
    let replay = ''
    for (const entry of this.opts.denylist.entriesSince(since)) replay += this.event(entry, audience)
    res.write(`retry: 1000\n\n${replay}${this.sync()}`)
    this.subscribers.add(subscriber)
    res.once('close', () => this.subscribers.delete(subscriber))
    this.start()
  }

  /** Ends every stream: at the start of a shutdown, so that they never hold it open. */
  end(): void {
    for (const s of this.subscribers) {
      // The connection closes with the stream: an idle keep-alive one would hold close() too.
      s.res.shouldKeepAlive = false
      s.res.end()
      s.res.socket?.destroySoon()
    }
    this.subscribers.clear()
    this.stop()
  }

  private start(): void {
    if (this.timer) return
    this.stopObserving = this.opts.denylist.observe((entry) => this.publish(entry))
    this.timer = setInterval(() => {
      const sync = this.sync()
      for (const s of this.subscribers) this.send(s, sync)
      if (this.subscribers.size === 0) this.stop()
    }, this.opts.heartbeatMs)
    this.timer.unref()
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.stopObserving?.()
    this.stopObserving = null
  }

  private publish(entry: DenylistEntry): void {
    for (const s of this.subscribers) this.send(s, this.event(entry, s.audience))
  }

  private send(s: Subscriber, text: string): void {
    if (s.res.writableLength > MAX_BUFFERED_BYTES) {
      s.res.destroy()
      this.subscribers.delete(s)
      return
    }
    s.res.write(text)
  }

  private event(entry: DenylistEntry, audience: string): string {
    const set = signSecurityEvent(sessionRevokedClaims(entry, this.opts.issuer, audience), { kid: this.opts.key.kid, privateKey: this.privateKey })
    return `event: set\ndata: ${set}\n\n`
  }

  private sync(): string {
    const cursor = this.opts.denylist.completeUntil ?? 0
    const data = { cursor, retain_ms: this.opts.denylist.retainMs, access_token_ttl_s: this.opts.accessTtlSec }
    return `event: sync\nid: ${cursor}\ndata: ${JSON.stringify(data)}\n\n`
  }
}
