// The resource server's subscription to the auth service's revocation feed: one long GET of
// Server-Sent Events, authenticated as a confidential client (Basic). Each `set` event is a
// CAEP session-revoked SET, verified here before it is believed; each `sync` event says how far
// the feed is complete, and its id is the cursor a reconnect sends as Last-Event-ID so that
// nothing revoked meanwhile is missed. Silence longer than the heartbeat timeout, an error or
// the end of the stream reconnects, with backoff.
import { verify } from 'node:crypto'
import { SESSION_REVOKED, SET_TYP } from '../oauth/security-events.js'
import type { RemoteKeys } from './keys.js'
import type { Revocations } from './revocations.js'
import { SseParser, type SseEvent } from './sse.js'

export interface FeedLog {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
  error(obj: object, msg: string): void
  debug(obj: object, msg: string): void
}

export interface FeedClientOptions {
  url: string
  authorization: string
  issuer: string
  clientId: string
  keys: RemoteKeys
  revocations: Revocations
  connectTimeoutMs: number
  /** no byte for this long: the stream is taken for dead */
  heartbeatTimeoutMs: number
  log: FeedLog
}

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const MIN_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 5_000

export class FeedClient {
  private stopped = false
  private abort: AbortController | null = null
  private backoffMs = MIN_BACKOFF_MS
  private wake: (() => void) | null = null
  /** connections opened (tests count them) */
  connections = 0
  /** events refused as forged or malformed */
  refused = 0

  constructor(private readonly opts: FeedClientOptions) {}

  start(): void {
    void this.run()
  }

  stop(): void {
    this.stopped = true
    this.abort?.abort()
    this.wake?.()
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.connectOnce()
      } catch (err) {
        if (!this.stopped) this.opts.log.debug({ err }, 'revocation feed disconnected')
      }
      if (this.stopped) break
      await new Promise<void>((resolve) => {
        this.wake = resolve
        setTimeout(resolve, this.backoffMs).unref()
      })
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS)
    }
  }

  private async connectOnce(): Promise<void> {
    const abort = new AbortController()
    this.abort = abort
    let timer = setTimeout(() => abort.abort(), this.opts.connectTimeoutMs)
    const alive = () => {
      clearTimeout(timer)
      timer = setTimeout(() => abort.abort(), this.opts.heartbeatTimeoutMs)
    }
    try {
      const cursor = this.opts.revocations.cursor
      const res = await fetch(this.opts.url, {
        headers: { authorization: this.opts.authorization, accept: 'text/event-stream', ...(cursor !== undefined ? { 'last-event-id': cursor } : {}) },
        signal: abort.signal,
        redirect: 'error',
      })
      if (res.status === 401 || res.status === 403) {
        this.backoffMs = MAX_BACKOFF_MS
        this.opts.log.error({ status: res.status }, 'the auth service refused our client credentials for the revocation feed (CLIENT_ID / CLIENT_SECRET)')
      }
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel()
        throw new Error(`revocation feed answered ${res.status}`)
      }
      this.connections++
      alive()
      // A restarted auth service may sign with a rotated key: look before its events arrive.
      void this.opts.keys.refresh().catch((err) => this.opts.log.warn({ err }, 'JWKS refresh failed'))
      let chain = Promise.resolve()
      const parser = new SseParser((event) => {
        // In order: a sync must not overtake a SET still waiting for its key.
        chain = chain.then(() => this.handle(event))
      })
      const decoder = new TextDecoder()
      for await (const chunk of res.body) {
        alive()
        parser.push(decoder.decode(chunk as Uint8Array, { stream: true }))
      }
      await chain
    } finally {
      clearTimeout(timer)
      this.abort = null
    }
  }

  private async handle(event: SseEvent): Promise<void> {
    if (event.event === 'sync') return this.sync(event)
    if (event.event !== 'set') return
    const verdict = await this.verifySet(event.data)
    if (typeof verdict === 'string') {
      this.refused++
      this.opts.log.warn({ reason: verdict }, 'refused a revocation feed event')
      return
    }
    this.opts.revocations.add(verdict.sid, verdict.revokedAt)
  }

  private sync(event: SseEvent): void {
    let data: { cursor?: unknown; retain_ms?: unknown; access_token_ttl_s?: unknown }
    try {
      data = JSON.parse(event.data)
    } catch {
      data = {}
    }
    const { retain_ms: retainMs, access_token_ttl_s: ttl } = data
    if (event.id === undefined || !Number.isInteger(retainMs) || !Number.isInteger(ttl) || (retainMs as number) <= 0 || (ttl as number) <= 0) {
      this.refused++
      this.opts.log.warn({ reason: 'malformed sync event' }, 'refused a revocation feed event')
      return
    }
    this.opts.revocations.synced({ cursor: event.id, retainMs: retainMs as number, accessTokenTtlSec: ttl as number })
    this.backoffMs = MIN_BACKOFF_MS
  }

  /** The session a SET revokes and when, or why it is refused. Every check is explicit (RFC 8725). */
  private async verifySet(jwt: string): Promise<{ sid: string; revokedAt: number } | string> {
    const parts = jwt.split('.')
    if (parts.length !== 3) return 'not a compact JWS'
    const [h, p, s] = parts as [string, string, string]
    const header = parseSegment(h)
    if (!header) return 'malformed header'
    if (header.alg !== 'EdDSA') return `algorithm ${JSON.stringify(header.alg)} is not EdDSA`
    // A media type: case-insensitive, with or without its application/ prefix (RFC 7515 §4.1.9).
    if (typeof header.typ !== 'string' || header.typ.toLowerCase().replace(/^application\//, '') !== SET_TYP) return 'typ is not secevent+jwt'
    if (header.crit !== undefined) return 'crit header'
    const key = await this.opts.keys.find(header.kid)
    if (!key) return 'unknown kid'
    const signature = Buffer.from(s, 'base64url')
    if (signature.length !== 64 || signature.toString('base64url') !== s) return 'malformed signature'
    if (!verify(null, Buffer.from(`${h}.${p}`), key.publicKey, signature)) return 'bad signature'
    const claims = parseSegment(p)
    if (!claims) return 'malformed payload'
    if (claims.iss !== this.opts.issuer) return 'wrong issuer'
    const aud = claims.aud
    if (!(aud === this.opts.clientId || (Array.isArray(aud) && aud.includes(this.opts.clientId)))) return 'not addressed to us'
    if (!Number.isInteger(claims.iat) || typeof claims.jti !== 'string') return 'iat or jti missing'
    const subject = claims.sub_id as { format?: unknown; id?: unknown } | undefined
    if (subject?.format !== 'opaque' || typeof subject.id !== 'string' || !SESSION_ID.test(subject.id)) return 'subject is not an opaque session id'
    const events = claims.events as Record<string, { event_timestamp?: unknown }> | undefined
    if (typeof events !== 'object' || events === null || Object.keys(events).length !== 1) return 'not one event'
    const at = events[SESSION_REVOKED]?.event_timestamp
    if (!Number.isInteger(at) || (at as number) <= 0) return 'not a session-revoked event'
    return { sid: subject.id, revokedAt: (at as number) * 1000 }
  }
}

function parseSegment(segment: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}
