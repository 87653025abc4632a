// In-memory stand-ins for the auth API, a browser's cookie jar, Web Locks and
// BroadcastChannel, so the SDK's logic is tested without a browser or a server.
import { randomBytes } from 'node:crypto'
import type { ChannelLike, LockManagerLike } from '../../client/src/index.js'
import { checkProof, issueChallenge, type ProofOfWorkPolicy } from '../../src/limits/proof-of-work.js'
import { accountKey } from '../../src/limits/policy.js'

export interface Call {
  method: string
  path: string
  query: URLSearchParams
  headers: Headers
  body: unknown
  credentials: RequestCredentials | undefined
  /** the cookies the browser attached when the request left (credentials: 'include') */
  cookies: { access?: string; refresh?: string }
}

type Handler = (call: Call) => Response | Promise<Response>
/** an override for the next call to a path: a response, a thrown error, or a handler */
type Planned = Response | Error | Handler | 'hang'

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })
}

const nowSec = () => Math.floor(Date.now() / 1000)

export const apiError = (status: number, error: string, headers: Record<string, string> = {}) =>
  json(status, { error, error_description: error }, headers)

export interface FakeEvent {
  id: string
  type: string
  session_id: string | null
  reason: string | null
  ip: string | null
  user_agent: string | null
  created_at: string
}

/**
 * The auth API under `basePath` (the server's plugin prefix): rotation (with the server's
 * replay of a spent parent), sessions that can be listed and revoked, the activity log, the
 * password change, access tokens that can be expired at will, and one shared cookie jar
 * standing in for the browser's. Any other path is a protected resource of the app.
 */
export class FakeApi {
  calls: Call[] = []
  private n = 0
  private sessionsIssued = 0
  private readonly validAccess = new Set<string>()
  /** refresh token -> its child once spent (replay window), or null while live */
  private readonly refreshTokens = new Map<string, string | null>()
  private readonly children = new Map<string, { access: string; refresh: string }>()
  /** any token -> the session (family) it belongs to */
  private readonly sessionOf = new Map<string, string>()
  /** session id -> whether revoked */
  readonly sessions = new Map<string, { revoked: boolean; createdAt: string }>()
  jar: { access?: string; refresh?: string } = {}
  private readonly plans = new Map<string, Planned[]>()
  /** the account's password: login and password change check it, a change replaces it */
  password = 'correct horse battery'
  /** the activity log, newest first */
  events: FakeEvent[] = []
  /** delay before every answer, to let concurrent callers pile up */
  latencyMs = 0
  /**
   * When set, every login needs a proof of work of this many bits, checked with the server's
   * own functions (src/limits/proof-of-work.ts) and spent once used, as the server does.
   */
  proofOfWorkBits: number | null = null
  private readonly powKey = randomBytes(32)
  private readonly spentProofs = new Set<string>()
  /** the mail flows: what each mail's link token and code are, and what was mailed */
  readonly mailed: { route: string; body: unknown }[] = []
  resetToken = 'reset-token'
  verifyToken = 'verify-token'
  changeToken = 'change-token'
  undoToken = 'undo-token'
  emailVerified = false
  /** a reset answers 200 with a new session's tokens, as the server's passwordReset.logsIn does */
  resetLogsIn = false
  private proves(body: Record<string, string> | undefined, token: string): boolean {
    return body?.token === token || (body?.code === '123456' && typeof body?.email === 'string')
  }

  constructor(readonly basePath = '/auth') {}

  /** `path` is the full path (`api.p('/refresh')` for an auth route) */
  plan(path: string, ...answers: Planned[]): void {
    this.plans.set(path, [...(this.plans.get(path) ?? []), ...answers])
  }

  count(path: string, method?: string): number {
    return this.calls.filter((c) => c.path === path && (!method || c.method === method)).length
  }

  /** the full path of an auth route: `p('/refresh')` is `/auth/refresh` by default */
  p(route: string): string {
    return this.basePath + route
  }

  expireAccess(): void {
    this.validAccess.clear()
  }

  /** issues a session directly (as a login elsewhere would), or a new pair of `session` */
  issue(session?: string): { accessToken: string; refreshToken: string } {
    const t = { accessToken: `a${++this.n}`, refreshToken: `r${this.n}` }
    const sid = session ?? `s${++this.sessionsIssued}`
    if (!session) this.sessions.set(sid, { revoked: false, createdAt: new Date(Date.UTC(2030, 0, 1, 0, this.sessionsIssued)).toISOString() })
    this.validAccess.add(t.accessToken)
    this.refreshTokens.set(t.refreshToken, null)
    this.sessionOf.set(t.accessToken, sid)
    this.sessionOf.set(t.refreshToken, sid)
    return t
  }

  revoke(session: string): void {
    const s = this.sessions.get(session)
    if (s) s.revoked = true
  }

  fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input, 'http://api.test')
    const headers = new Headers(init.headers)
    const raw = typeof init.body === 'string' ? init.body : undefined
    const call: Call = {
      method: init.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers,
      body: raw ? JSON.parse(raw) : undefined,
      credentials: init.credentials,
      cookies: init.credentials === 'include' ? { ...this.jar } : {},
    }
    this.calls.push(call)
    if (this.latencyMs) await new Promise((r) => setTimeout(r, this.latencyMs))
    const planned = this.plans.get(call.path)?.shift()
    if (planned !== undefined) {
      if (planned === 'hang') {
        return new Promise<Response>((_, reject) => {
          const s = init.signal
          s?.addEventListener('abort', () => reject(s.reason ?? new DOMException('aborted', 'AbortError')))
        })
      }
      if (planned instanceof Error) throw planned
      if (planned instanceof Response) return planned
      return planned(call)
    }
    return this.route(call)
  }

  private cookieMode(call: Call): boolean {
    return call.headers.get('x-auth-transport') === 'cookie'
  }

  private accessOf(call: Call): string | undefined {
    const auth = call.headers.get('authorization')
    if (auth) return auth.replace(/^Bearer /, '')
    return call.cookies.access
  }

  private refreshOf(call: Call): string | undefined {
    const body = call.body as Record<string, string> | undefined
    return body?.refresh_token ?? (this.cookieMode(call) ? call.cookies.refresh : undefined)
  }

  private tokens(call: Call, t: { accessToken: string; refreshToken: string }): Response {
    if (this.cookieMode(call)) {
      this.jar = { access: t.accessToken, refresh: t.refreshToken }
      return json(200, { token_type: 'Bearer', expires_in: 900 })
    }
    return json(200, { access_token: t.accessToken, token_type: 'Bearer', expires_in: 900, refresh_token: t.refreshToken })
  }

  private powPolicy(): ProofOfWorkPolicy {
    return { afterFailures: 1, baseBits: 1, maxBits: 24, challengeTtlSec: 120 }
  }

  private provenWork(body: Record<string, unknown> | undefined): boolean {
    const proof = body?.proof as { challenge: string; nonce: string } | undefined
    if (!proof || typeof body?.email !== 'string' || typeof body.password !== 'string') return false
    const key = `${proof.challenge} ${proof.nonce}`
    if (this.spentProofs.has(key)) return false
    const { bits } = checkProof(this.powKey, accountKey(body.email), proof, body.password, nowSec(), this.powPolicy())
    if (bits < this.proofOfWorkBits!) return false
    this.spentProofs.add(key)
    return true
  }

  private record(type: string, session: string | null): void {
    this.events.unshift({ id: `e${this.events.length + 1}`, type, session_id: session, reason: null, ip: '127.0.0.1', user_agent: null, created_at: new Date().toISOString() })
  }

  /** What a refresh token gets: a new pair, the same child again (replay), or the session's end. */
  private rotate(token: string): { tokens: { accessToken: string; refreshToken: string } } | { error: Response } {
    if (!this.refreshTokens.has(token)) return { error: apiError(401, 'invalid_refresh_token') }
    const session = this.sessionOf.get(token)!
    if (this.sessions.get(session)!.revoked) return { error: apiError(401, 'session_revoked') }
    const spent = this.refreshTokens.get(token)
    if (spent) return { tokens: { accessToken: this.children.get(token)!.access, refreshToken: spent } }
    const child = this.issue(session)
    this.refreshTokens.set(token, child.refreshToken)
    this.children.set(token, { access: child.accessToken, refresh: child.refreshToken })
    return { tokens: child }
  }

  /** The session of a valid access token, or the 401 a protected route answers. */
  private authenticate(call: Call): { session: string } | { error: Response } {
    const access = this.accessOf(call)
    if (!access) return { error: apiError(401, 'unauthorized') }
    if (!this.validAccess.has(access)) return { error: apiError(401, 'token_expired') }
    const session = this.sessionOf.get(access)!
    if (this.sessions.get(session)!.revoked) return { error: apiError(401, 'session_revoked') }
    return { session }
  }

  route(call: Call): Response {
    const base = this.basePath
    const sub = call.path.startsWith(`${base}/`) ? call.path.slice(base.length) : null
    const key = `${call.method} ${sub}`
    const body = call.body as Record<string, string> | undefined
    switch (key) {
      case 'POST /register':
        return json(201, { id: 'u1', email: body?.email })
      case 'POST /login':
        if (this.proofOfWorkBits !== null && !this.provenWork(body)) {
          const policy = this.powPolicy()
          const challenge = issueChallenge(this.powKey, accountKey(body?.email ?? ''), this.proofOfWorkBits, nowSec(), randomBytes(16).toString('base64url'), policy)
          return json(401, { error: 'proof_of_work_required', error_description: 'solve it', challenge, difficulty: this.proofOfWorkBits })
        }
        if (body?.password !== this.password) return apiError(401, 'invalid_credentials')
        return this.tokens(call, this.issue())
      case 'POST /refresh': {
        const token = this.refreshOf(call)
        if (!token) return apiError(401, 'unauthorized')
        const r = this.rotate(token)
        return 'error' in r ? r.error : this.tokens(call, r.tokens)
      }
      case 'POST /logout': {
        const scope = call.query.get('scope') ?? 'current'
        if (scope !== 'current') {
          const auth = this.authenticate(call)
          if ('error' in auth) return auth.error
          for (const [id] of this.sessions) if (scope === 'all' || id !== auth.session) this.revoke(id)
          if (scope === 'all' && this.cookieMode(call)) this.jar = {}
          return new Response(null, { status: 204 })
        }
        const named = this.refreshOf(call) ?? this.accessOf(call)
        if (named && this.sessionOf.has(named)) this.revoke(this.sessionOf.get(named)!)
        if (this.cookieMode(call)) this.jar = {}
        this.expireAccess()
        return new Response(null, { status: 204 })
      }
      case 'POST /password/forgot':
      case 'POST /email/verify/resend':
        this.mailed.push({ route: key, body })
        return json(202, { status: 'accepted' })
      case 'POST /password/reset': {
        if (!this.proves(body, this.resetToken)) return apiError(400, 'invalid_email_token')
        this.resetToken = `spent-${this.resetToken}`
        for (const [id] of this.sessions) this.revoke(id)
        this.password = body!.new_password!
        return this.resetLogsIn ? this.tokens(call, this.issue()) : new Response(null, { status: 204 })
      }
      case 'POST /email/verify':
        if (!this.proves(body, this.verifyToken)) return apiError(400, 'invalid_email_token')
        this.emailVerified = true
        return new Response(null, { status: 204 })
      case 'POST /email/change/confirm':
        if (!this.proves(body, this.changeToken)) return apiError(400, 'invalid_email_token')
        return new Response(null, { status: 204 })
      case 'POST /email/change/undo':
        if (!this.proves(body, this.undoToken)) return apiError(400, 'invalid_email_token')
        for (const [id] of this.sessions) this.revoke(id)
        return new Response(null, { status: 204 })
      case 'POST /password': {
        const auth = this.authenticate(call)
        if ('error' in auth) return auth.error
        if (body?.current_password !== this.password) return apiError(403, 'invalid_current_password')
        const token = this.refreshOf(call)
        if (!token || this.sessionOf.get(token) !== auth.session) return apiError(400, 'invalid_request')
        const r = this.rotate(token)
        if ('error' in r) return r.error
        for (const [id] of this.sessions) if (id !== auth.session) this.revoke(id)
        this.password = body.new_password!
        this.record('password_changed', auth.session)
        return this.tokens(call, r.tokens)
      }
    }
    const auth = this.authenticate(call)
    if ('error' in auth) return auth.error
    if (key === 'GET /me') return json(200, { id: 'u1', email: 'ada@example.com', email_verified: this.emailVerified, session_id: auth.session })
    if (key === 'POST /email/change') {
      if (body?.password !== this.password) return apiError(403, 'invalid_current_password')
      this.mailed.push({ route: key, body })
      return json(202, { status: 'accepted' })
    }
    if (key === 'GET /sessions') {
      const live = [...this.sessions].filter(([, s]) => !s.revoked)
      return json(200, {
        sessions: live.map(([id, s]) => ({
          id,
          created_at: s.createdAt,
          last_used_at: s.createdAt,
          expires_at: '2030-02-01T00:00:00.000Z',
          user_agent: null,
          ip: '127.0.0.1',
          current: id === auth.session,
        })),
      })
    }
    if (key === 'GET /sessions/events') {
      const limit = Number(call.query.get('limit') ?? '20')
      const from = Number(call.query.get('cursor') ?? '0')
      const page = this.events.slice(from, from + limit)
      return json(200, { events: page, next_cursor: from + limit < this.events.length ? String(from + limit) : null })
    }
    const revoking = call.method === 'DELETE' && sub?.match(/^\/sessions\/([^/]+)$/)
    if (revoking) {
      const id = decodeURIComponent(revoking[1]!)
      if (!this.sessions.has(id)) return apiError(404, 'session_not_found')
      this.revoke(id)
      if (id === auth.session && this.cookieMode(call)) this.jar = {}
      return new Response(null, { status: 204 })
    }
    return json(200, { ok: true, method: call.method, body: call.body ?? null })
  }
}

/** Web Locks with the one behaviour the SDK uses: exclusive, FIFO, `ifAvailable`. */
export class FakeLocks implements LockManagerLike {
  private readonly tails = new Map<string, Promise<void>>()
  private readonly held = new Map<string, number>()
  granted = 0

  async request<T>(name: string, options: { ifAvailable?: boolean }, callback: (lock: unknown) => Promise<T> | T): Promise<T> {
    if (options.ifAvailable && (this.held.get(name) ?? 0) > 0) return callback(null)
    const prev = this.tails.get(name) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((r) => (release = r))
    this.tails.set(name, prev.then(() => mine))
    this.held.set(name, (this.held.get(name) ?? 0) + 1)
    await prev
    this.granted++
    try {
      return await callback({ name })
    } finally {
      this.held.set(name, this.held.get(name)! - 1)
      release()
    }
  }
}

/** BroadcastChannel: asynchronous, structured-cloned, never delivered to the sender. */
export class FakeHub {
  private readonly channels = new Set<FakeChannel>()
  messages: unknown[] = []

  channel(): ChannelLike {
    const c = new FakeChannel(this)
    this.channels.add(c)
    return c
  }

  deliver(from: FakeChannel, message: unknown): void {
    this.messages.push(message)
    const copy = structuredClone(message)
    for (const c of this.channels) if (c !== from && !c.closed) setTimeout(() => c.emit(copy), 0)
  }

  remove(c: FakeChannel): void {
    this.channels.delete(c)
  }
}

class FakeChannel implements ChannelLike {
  closed = false
  private readonly listeners: Array<(e: { data: unknown }) => void> = []
  constructor(private readonly hub: FakeHub) {}
  postMessage(message: unknown): void {
    if (this.closed) throw new Error('closed')
    this.hub.deliver(this, message)
  }
  addEventListener(_type: 'message', listener: (e: { data: unknown }) => void): void {
    this.listeners.push(listener)
  }
  emit(data: unknown): void {
    for (const l of this.listeners) l({ data })
  }
  close(): void {
    this.closed = true
    this.hub.remove(this)
  }
}

/** A sleep that records what it was asked to wait and returns at once. */
export function recordingSleep() {
  const waits: number[] = []
  const sleep = async (ms: number, signal?: AbortSignal | null) => {
    if (signal?.aborted) throw signal.reason
    waits.push(ms)
  }
  return { waits, sleep }
}

export const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms))
