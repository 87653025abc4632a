// The client side of the auth API: one call for authenticated requests that refreshes once
// on a 401 and retries, for both transports.
//
// Invariants:
// - one refresh at a time per page (a shared promise) and, in a browser, per origin (a Web
//   Lock); a tab that waited for another's refresh adopts its result instead of refreshing;
// - only a definitive refresh answer (a 401, `invalid_grant`) logs out; 429/503, network
//   errors and timeouts are retried with backoff and, if they persist, thrown as
//   AuthError('transient') with every credential kept;
// - a failure never clears credentials that changed after the failing request began: the
//   tokens it used are compared with the stored ones (Bearer) and a change counter is
//   compared with the one it started from (both; in cookie mode it also counts what other
//   tabs announce).
import {
  AuthError,
  DEFINITIVE_REFRESH_ERRORS,
  SESSION_OVER_ERRORS,
  SecondFactorRequired,
  errorFromResponse,
  hasCode,
  isAuthErrorCode,
  readStepUp,
  type AuthErrorCode,
  type StepUpChallenge,
} from './errors.js'
import { createPasskey, getPasskey } from './webauthn.js'
import { DEFAULT_RETRY, defaultSleep, discard, send, type FetchLike, type HttpDeps, type RetryOptions } from './http.js'
import { memoryStorage, sameTokens, type TokenStorage, type Tokens } from './storage.js'
import { Coordinator, detectCrossTab, type ChannelLike, type LockManagerLike, type TabMessage } from './cross-tab.js'
import { readChallenge, solveProofOfWork } from './proof-of-work.js'

export type TransportMode = 'cookie' | 'bearer'

/** `unknown` until the first answer says otherwise (a page just loaded may hold a live cookie). */
export type SessionState = 'unknown' | 'authenticated' | 'anonymous'

export interface AuthEvent {
  /**
   * `refresh` also for a password change, which gives this session a new token pair, and for a
   * re-authentication (step-up), which gives it a new access token
   */
  type: 'login' | 'refresh' | 'logout'
  /** true when another tab did it */
  remote: boolean
  /** for `logout`: `logout` or the server's code (`refresh_token_reused`, `session_expired`...) */
  reason?: string
}

export interface LogoutInfo {
  reason: string
  remote: boolean
}

export interface AuthClientOptions {
  /** where the API lives, e.g. `https://api.example.com`; '' (default) for the page's own origin */
  baseUrl?: string
  /**
   * Where the server mounts the auth routes under `baseUrl` (its plugin prefix): `/auth`
   * (default) gives `/auth/login`, `/auth/me`, `/auth/sessions`...; '' for the root.
   */
  basePath?: string
  /** `cookie` for browsers (tokens in httpOnly cookies), `bearer` for mobile apps and servers */
  transport: TransportMode
  /** defaults to the global fetch */
  fetch?: FetchLike
  /** Bearer only: secure-storage callbacks (defaults to memory) */
  storage?: TokenStorage
  /** Web Lock and BroadcastChannel name shared by the tabs (default `auth-client`) */
  lockName?: string
  /** called once when the session ends: logout here or in another tab, or a definitive refresh failure */
  onLogout?: (info: LogoutInfo) => void
  retry?: Partial<RetryOptions>
  /** per attempt, until response headers arrive (default 10 s; 0: none) */
  timeoutMs?: number
  /**
   * Cookie mode: after waiting for another tab's refresh, a cheap authenticated GET that tells
   * whether the cookies the other tab got already work (default `{basePath}/me`; null: always refresh).
   */
  probePath?: string | null
  /** false: this page only; or explicit Web Locks / channel (tests, workers). Default: detected. */
  crossTab?: false | { locks?: LockManagerLike | null; channel?: ChannelLike | null }
  /**
   * Step-up (RFC 9470): a request answered 401 insufficient_user_authentication (a route that
   * wants a second factor, or a more recent authentication) calls this with what it asked for.
   * Prompt the user, call `reauthenticate()` with what they give, and resolve true: the request
   * is sent once more. Resolve false (or leave this unset) to get the 401 back instead.
   */
  onStepUp?: (challenge: StepUpChallenge) => boolean | Promise<boolean>
  /** for tests */
  sleep?: (ms: number, signal?: AbortSignal | null) => Promise<void>
  random?: () => number
  now?: () => number
}

export interface Me {
  id: string
  email: string
  /** the owner has proved the address (as of this access token) */
  email_verified: boolean
  session_id: string
}

/**
 * What proves a mail was read: the `token` query parameter of its link, or the address it was
 * sent to and the 6-digit code it carries.
 */
export type EmailProof = { token: string } | { email: string; code: string }

/**
 * What register answers: with email verification on (the server's default), the same for a
 * new and a taken address (202, no id: a mail tells the owner which); with it off, 201 and the
 * new account's id.
 */
export interface Registered {
  email: string
  id?: string
}

/** One live session (device) of the account. */
export interface Session {
  /** what `revokeSession` takes; `me().session_id` for this one */
  id: string
  /** ISO 8601: login time */
  created_at: string
  /** ISO 8601: last refresh */
  last_used_at: string
  /** ISO 8601: when it ends unless refreshed before */
  expires_at: string
  user_agent: string | null
  ip: string | null
  /** true for the session making the request */
  current: boolean
}

/** One entry of the account's activity (audit trail), newest first. */
export interface AccountEvent {
  id: string
  /** `login_success`, `login_failure`, `refresh`, `reuse_detected`, `family_revoked`, `password_changed`, `password_change_failure` */
  type: string
  session_id: string | null
  /** why: a revocation's reason, a failure's cause */
  reason: string | null
  ip: string | null
  user_agent: string | null
  /** ISO 8601 */
  created_at: string
}

export interface AccountEventsPage {
  events: AccountEvent[]
  /** pass as `cursor` for the next page; null on the last page */
  next_cursor: string | null
}

/** `current`: this session (default); `all`: every session of the account; `others`: all but this one. */
export type LogoutScope = 'current' | 'all' | 'others'

/**
 * A second factor: a code of the authenticator app, a recovery code, or a passkey (the browser
 * asks for it; `signal` aborts the prompt).
 */
export type FactorAnswer = { code: string } | { recoveryCode: string } | { passkey: true; signal?: AbortSignal }

/** What the account has (GET {basePath}/mfa). */
export interface MfaStatus {
  totp: { enabled: boolean; enabled_at: string | null }
  passkeys: boolean
  recovery_codes_left: number
}

/** A new authenticator-app secret to show: the QR code (an image data: URL), the URI in it, and the secret to type by hand. */
export interface TotpEnrolment {
  secret: string
  otpauthUri: string
  qrCode: string
}

export interface PasskeyInfo {
  id: string
  name: string
  /** ISO 8601 */
  created_at: string
  last_used_at: string | null
  /** may be synced to other devices */
  backup_eligible: boolean
  backed_up: boolean
  transports: string[]
}

export interface AuthClient {
  readonly transport: TransportMode
  readonly state: SessionState
  register(email: string, password: string): Promise<Registered>
  login(email: string, password: string): Promise<void>
  /**
   * Ends the session on the server, here and in the other tabs (`scope: 'current'`, the
   * default, or `'all'`); `'others'` ends every other session of the account and keeps this one.
   */
  logout(options?: { scope?: LogoutScope }): Promise<void>
  /**
   * An authenticated request to `baseUrl + path` (path starts with '/'). On a 401 it
   * refreshes once (shared with every other request and tab) and retries once. Returns the
   * response like fetch; throws AuthError('transient') if a needed refresh kept failing.
   * A request body must be re-sendable (string, Blob, FormData, URLSearchParams, buffer).
   */
  fetch(path: string, init?: RequestInit): Promise<Response>
  /** Refreshes now (or adopts another tab's fresh result). Throws AuthError('definitive') if the session is over. */
  refresh(): Promise<void>
  /** GET {basePath}/me; throws AuthError (`definitive` on a 401). */
  me(): Promise<Me>
  /** The account's live sessions (GET {basePath}/sessions). */
  sessions(): Promise<Session[]>
  /**
   * Ends one session of the account on every device (DELETE {basePath}/sessions/:id). When
   * `id` is this session, as last seen from `me()` or `sessions()`, this client logs out too.
   */
  revokeSession(id: string): Promise<void>
  /** A page of the account's activity, newest first (GET {basePath}/sessions/events). */
  events(options?: { limit?: number; cursor?: string }): Promise<AccountEventsPage>
  /**
   * Changes the password; every other session is revoked, and this one continues with a new
   * token pair (cookies, or `storage` in Bearer mode). A wrong current password is
   * AuthError('rejected', 'invalid_current_password'); a 401 logs out only when it says the
   * session is over. AuthError('transient') means the outcome is unknown: the client has
   * already tried to pick up the new tokens with a refresh.
   */
  changePassword(currentPassword: string, newPassword: string): Promise<void>
  /** Asks for a password reset mail (POST {basePath}/password/forgot); resolves alike whether or not the address has an account. */
  forgotPassword(email: string): Promise<void>
  /**
   * Sets a new password with the reset mail's link token or code. Every session of the account
   * ends; when this client's session was one of them, it logs out here and in every other tab
   * at once (reason `session_revoked`). If the server logs the caller in after a reset, this
   * client is then logged in.
   */
  resetPassword(proof: EmailProof, newPassword: string): Promise<void>
  /** Verifies the address with the verification mail's link token or code; a logged-in client refreshes to carry the new claim. */
  verifyEmail(proof: EmailProof): Promise<void>
  /** Sends the verification mail again; resolves alike for any address. */
  resendVerification(email: string): Promise<void>
  /** Asks to move the account to `newEmail` (needs the current password); nothing changes until the new address confirms. */
  changeEmail(newEmail: string, password: string): Promise<void>
  /** Confirms a change of address with the link token or code mailed to the new address. */
  confirmEmailChange(proof: EmailProof): Promise<void>
  /** Undoes a change of address with the link token or code mailed to the old one; every session of the account ends. */
  undoEmailChange(proof: EmailProof): Promise<void>
  /**
   * The second step of a login that threw SecondFactorRequired: its `challenge` and a factor.
   * Logs in like login() does. A wrong code is AuthError('rejected', 'invalid_mfa_code'); an
   * expired or used challenge 'invalid_mfa_challenge' (log in again).
   */
  verifySecondFactor(challenge: string, answer: FactorAnswer): Promise<void>
  /**
   * Logs in with a passkey alone (browsers). `conditional: true` offers the account's passkeys in
   * the autofill of an input with `autocomplete="username webauthn"`, and waits until one is
   * picked (abort it with `signal` before any other passkey request).
   */
  loginWithPasskey(options?: { conditional?: boolean; signal?: AbortSignal }): Promise<void>
  /**
   * Step-up: proves a factor now (a second factor when the account has one, else `{ password }`).
   * This session's access token, and every one its refreshes issue, then say so (amr, auth_time).
   */
  reauthenticate(answer: FactorAnswer | { password: string }): Promise<void>
  /** The account's second factors. */
  mfaStatus(): Promise<MfaStatus>
  /** Starts enrolling an authenticator app: show `qrCode` (or `secret`), then confirmTotp() with its first code. */
  enrollTotp(): Promise<TotpEnrolment>
  /** Turns the app on with its first code; the ten recovery codes, to show the user once. */
  confirmTotp(code: string): Promise<string[]>
  /** Turns the app off (needs a recent second factor: see onStepUp). */
  disableTotp(): Promise<void>
  /** Ten new recovery codes; the old ones stop working (needs a recent second factor). */
  regenerateRecoveryCodes(): Promise<string[]>
  /** Registers a passkey for this account on this device (browsers). */
  registerPasskey(name?: string): Promise<PasskeyInfo>
  passkeys(): Promise<PasskeyInfo[]>
  /** Removes a passkey (needs a recent second factor). */
  removePasskey(id: string): Promise<void>
  subscribe(listener: (event: AuthEvent) => void): () => void
  /** Stops listening to other tabs. */
  close(): void
}

export const TRANSPORT_HEADER = 'X-Auth-Transport'

type Outcome = 'refreshed' | 'superseded' | 'logged-out'

/** What a request started from, to tell later whether a failure is still about the current credentials. */
interface Basis {
  epoch: number
  tokens: Tokens | null
  startedAt: number
}

// Methods whose retry after an unknown outcome (lost answer, timeout) is harmless.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

export function createAuthClient(options: AuthClientOptions): AuthClient {
  return new Client(options)
}

class Client implements AuthClient {
  readonly transport: TransportMode
  private readonly bearer: boolean
  private readonly baseUrl: string
  private readonly basePath: string
  private readonly storage: TokenStorage
  private readonly http: HttpDeps
  private readonly coordinator: Coordinator
  private readonly probePath: string | null
  private readonly onLogout?: (info: LogoutInfo) => void
  private readonly onStepUp?: (challenge: StepUpChallenge) => boolean | Promise<boolean>
  private readonly now: () => number
  private readonly listeners = new Set<(e: AuthEvent) => void>()

  private current: SessionState = 'unknown'
  /** bumped on every credential change seen here: login, refresh, logout, another tab's announcement */
  private epoch = 0
  /** when credentials last changed (Date.now() of whoever changed them) */
  private lastChange = 0
  private lastLogoutReason: AuthErrorCode = 'unauthorized'
  private inflight: Promise<Outcome> | null = null
  /** this session's id, when an answer told it (me, sessions); forgotten when the session changes */
  private sessionId: string | null = null
  /** bumped when the session (not just its tokens) changes, so that a late answer about the previous one is not learnt */
  private sessionGen = 0

  constructor(o: AuthClientOptions) {
    if (o.transport !== 'cookie' && o.transport !== 'bearer') throw new TypeError('transport must be "cookie" or "bearer"')
    this.transport = o.transport
    this.bearer = o.transport === 'bearer'
    this.baseUrl = (o.baseUrl ?? '').replace(/\/+$/, '')
    this.basePath = normalizeBasePath(o.basePath)
    this.storage = o.storage ?? memoryStorage()
    this.probePath = o.probePath === undefined ? `${this.basePath}/me` : o.probePath
    this.onLogout = o.onLogout
    this.onStepUp = o.onStepUp
    this.now = o.now ?? (() => Date.now())
    if (!o.fetch && typeof globalThis.fetch !== 'function') throw new TypeError('no fetch available: pass options.fetch')
    this.http = {
      // Unbound window.fetch throws "Illegal invocation" in browsers.
      fetch: o.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      timeoutMs: o.timeoutMs ?? 10_000,
      retry: { ...DEFAULT_RETRY, ...o.retry },
      sleep: o.sleep ?? defaultSleep,
      random: o.random ?? Math.random,
    }
    const lockName = o.lockName ?? 'auth-client'
    const tabs =
      o.crossTab === false
        ? { locks: null, channel: null }
        : o.crossTab
          ? { locks: o.crossTab.locks ?? null, channel: o.crossTab.channel ?? null }
          : detectCrossTab(lockName)
    this.coordinator = new Coordinator({ lockName, ...tabs, now: this.now })
    this.coordinator.onMessage((m) => void this.onTabMessage(m))
  }

  get state(): SessionState {
    return this.current
  }

  // ---- public API -------------------------------------------------------------------------

  async register(email: string, password: string): Promise<Registered> {
    const res = await send(this.http, this.authUrl('/register'), this.jsonPost({ email, password }), { retryUnknownOutcome: false })
    if (res.status !== 201 && res.status !== 202) throw await errorFromResponse(res)
    return (await res.json()) as Registered
  }

  async forgotPassword(email: string): Promise<void> {
    // Not re-sent after a lost answer: each request mails a new link that replaces the last.
    await this.expect(await send(this.http, this.authUrl('/password/forgot'), this.jsonPost({ email }), { retryUnknownOutcome: false }), 202)
  }

  async resetPassword(proof: EmailProof, newPassword: string): Promise<void> {
    const res = await send(this.http, this.authUrl('/password/reset'), this.jsonPost({ ...proofBody(proof), new_password: newPassword }), { retryUnknownOutcome: false })
    if (res.status === 200) {
      // The server logs the caller in after a reset (its setting): a new session, like a login.
      await this.loggedIn(res)
      return
    }
    await this.expect(res, 204)
    // Every session of that account is over. Whether this client's was one of them (it may be
    // logged in as someone else), a refresh tells; if so, it logs out here and in every tab.
    await this.settleSession()
  }

  async verifyEmail(proof: EmailProof): Promise<void> {
    await this.expect(await send(this.http, this.authUrl('/email/verify'), this.jsonPost(proofBody(proof)), { retryUnknownOutcome: false }), 204)
    // The access token's email_verified claim changes with the next token: get it now.
    if (this.current === 'authenticated') await this.settleSession()
  }

  async resendVerification(email: string): Promise<void> {
    await this.expect(await send(this.http, this.authUrl('/email/verify/resend'), this.jsonPost({ email }), { retryUnknownOutcome: false }), 202)
  }

  async changeEmail(newEmail: string, password: string): Promise<void> {
    const res = await this.fetch(`${this.basePath}/email/change`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ new_email: newEmail, password }),
    })
    if (res.status !== 202) throw await this.failure(res)
    discard(res)
  }

  async confirmEmailChange(proof: EmailProof): Promise<void> {
    await this.expect(await send(this.http, this.authUrl('/email/change/confirm'), this.jsonPost(proofBody(proof)), { retryUnknownOutcome: false }), 204)
    if (this.current === 'authenticated') await this.settleSession()
  }

  async undoEmailChange(proof: EmailProof): Promise<void> {
    await this.expect(await send(this.http, this.authUrl('/email/change/undo'), this.jsonPost(proofBody(proof)), { retryUnknownOutcome: false }), 204)
    await this.settleSession()
  }

  async login(email: string, password: string): Promise<void> {
    const post = (body: object) => send(this.http, this.authUrl('/login'), this.jsonPost(body), { retryUnknownOutcome: false })
    let res = await post({ email, password })
    // An account failing from many places: the server wants a proof of work for this
    // password. Solved here and sent once; a second challenge is thrown like any refusal.
    const challenge = res.status === 401 ? readChallenge(await res.clone().json().catch(() => null)) : null
    if (challenge) {
      discard(res)
      const nonce = await solveProofOfWork(challenge.challenge, challenge.difficulty, password)
      res = await post({ email, password, proof: { challenge: challenge.challenge, nonce } })
    }
    if (res.status === 401) {
      const body = (await res.clone().json().catch(() => null)) as { error?: unknown; challenge?: unknown; methods?: unknown; expires_in?: unknown; error_description?: unknown } | null
      if (body?.error === 'mfa_required' && typeof body.challenge === 'string') {
        discard(res)
        const methods = Array.isArray(body.methods) ? body.methods.filter((m): m is string => typeof m === 'string') : []
        throw new SecondFactorRequired(body.challenge, methods, typeof body.expires_in === 'number' ? body.expires_in : 0, String(body.error_description ?? 'a second factor is required'))
      }
    }
    if (!res.ok) throw await errorFromResponse(res)
    await this.loggedIn(res)
  }

  async verifySecondFactor(challenge: string, answer: FactorAnswer): Promise<void> {
    const body = { challenge, ...(await this.answerBody(answer, challenge)) }
    const post = (b: object) => send(this.http, this.authUrl('/mfa/verify'), this.jsonPost(b), { retryUnknownOutcome: false })
    const res = await this.withProofOfWork(post, body, answer)
    if (!res.ok) throw await errorFromResponse(res)
    await this.loggedIn(res)
  }

  async loginWithPasskey(options: { conditional?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    const opts = await send(this.http, this.authUrl('/passkeys/login/options'), this.jsonPost({}), { retryUnknownOutcome: true })
    if (!opts.ok) throw await errorFromResponse(opts)
    const credential = await getPasskey(((await opts.json()) as { options: Record<string, unknown> }).options, options)
    const res = await send(this.http, this.authUrl('/passkeys/login'), this.jsonPost({ credential }), { retryUnknownOutcome: false })
    if (!res.ok) throw await errorFromResponse(res)
    await this.loggedIn(res)
  }

  async reauthenticate(answer: FactorAnswer | { password: string }): Promise<void> {
    const body = 'password' in answer ? { password: answer.password } : await this.answerBody(answer, null)
    const post = (b: object) => this.fetch(`${this.basePath}/reauthenticate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) })
    const res = 'password' in answer ? await post(body) : await this.withProofOfWork(post, body, answer)
    if (!res.ok) throw await this.failure(res)
    if (this.bearer) {
      const { access_token } = (await res.json()) as { access_token?: unknown }
      const stored = await this.storage.get()
      if (typeof access_token !== 'string') throw new AuthError('rejected', 'invalid_response', 'the answer has no access token', res.status)
      if (stored) await this.storage.set({ accessToken: access_token, refreshToken: stored.refreshToken })
    } else await res.text().catch(() => '')
    this.changed('authenticated', this.now())
    this.coordinator.post({ type: 'refreshed' })
    this.emit({ type: 'refresh', remote: false })
  }

  async mfaStatus(): Promise<MfaStatus> {
    return this.json<MfaStatus>(await this.fetch(`${this.basePath}/mfa`))
  }

  async enrollTotp(): Promise<TotpEnrolment> {
    const e = await this.json<{ secret: string; otpauth_uri: string; qr_code: string }>(await this.fetch(`${this.basePath}/mfa/totp/enroll`, { method: 'POST' }))
    return { secret: e.secret, otpauthUri: e.otpauth_uri, qrCode: e.qr_code }
  }

  async confirmTotp(code: string): Promise<string[]> {
    return (await this.json<{ recovery_codes: string[] }>(await this.fetch(`${this.basePath}/mfa/totp/confirm`, jsonInit({ code })))).recovery_codes
  }

  async disableTotp(): Promise<void> {
    await this.done(await this.fetch(`${this.basePath}/mfa/totp`, { method: 'DELETE' }))
  }

  async regenerateRecoveryCodes(): Promise<string[]> {
    return (await this.json<{ recovery_codes: string[] }>(await this.fetch(`${this.basePath}/mfa/recovery-codes`, { method: 'POST' }))).recovery_codes
  }

  async registerPasskey(name?: string): Promise<PasskeyInfo> {
    const { options } = await this.json<{ options: Record<string, unknown> }>(await this.fetch(`${this.basePath}/passkeys/register/options`, { method: 'POST' }))
    const credential = await createPasskey(options)
    const res = await this.fetch(`${this.basePath}/passkeys/register`, jsonInit({ credential, ...(name ? { name } : {}) }))
    return (await this.json<{ passkey: PasskeyInfo }>(res)).passkey
  }

  async passkeys(): Promise<PasskeyInfo[]> {
    return (await this.json<{ passkeys: PasskeyInfo[] }>(await this.fetch(`${this.basePath}/passkeys`))).passkeys
  }

  async removePasskey(id: string): Promise<void> {
    if (typeof id !== 'string' || id === '') throw new TypeError('removePasskey needs a passkey id')
    await this.done(await this.fetch(`${this.basePath}/passkeys/${encodeURIComponent(id)}`, { method: 'DELETE' }))
  }

  /** A new session's tokens are in (login, second factor, passkey, a reset that logs in). */
  private async loggedIn(res: Response): Promise<void> {
    await this.acceptTokens(res)
    this.forgetSession()
    this.changed('authenticated', this.now())
    this.coordinator.post({ type: 'logged-in' })
    this.emit({ type: 'login', remote: false })
  }

  /** The body fields of a factor; a passkey is asked of the browser for the login challenge, or for a step-up. */
  private async answerBody(answer: FactorAnswer, loginChallenge: string | null): Promise<Record<string, unknown>> {
    if ('code' in answer) return { code: answer.code }
    if ('recoveryCode' in answer) return { recovery_code: answer.recoveryCode }
    const res = loginChallenge
      ? await send(this.http, this.authUrl('/mfa/passkey/options'), this.jsonPost({ challenge: loginChallenge }), { retryUnknownOutcome: true })
      : await send(this.http, this.authUrl('/passkeys/login/options'), this.jsonPost({}), { retryUnknownOutcome: true })
    if (!res.ok) throw await errorFromResponse(res)
    const { options } = (await res.json()) as { options: Record<string, unknown> }
    return { passkey: await getPasskey(options, { signal: answer.signal }) }
  }

  /**
   * A code sent once more with a proof of work when the account has had many wrong ones (the
   * server says so as it does for a login, and the work is bound to the code the same way).
   */
  private async withProofOfWork(post: (body: object) => Promise<Response>, body: Record<string, unknown>, answer: FactorAnswer): Promise<Response> {
    const res = await post(body)
    const secret = 'code' in answer ? answer.code : 'recoveryCode' in answer ? answer.recoveryCode : null
    const challenge = res.status === 401 && secret !== null ? readChallenge(await res.clone().json().catch(() => null)) : null
    if (!challenge) return res
    discard(res)
    const nonce = await solveProofOfWork(challenge.challenge, challenge.difficulty, secret!)
    return post({ ...body, proof: { challenge: challenge.challenge, nonce } })
  }

  private async json<T>(res: Response): Promise<T> {
    if (!res.ok) throw await this.failure(res)
    return (await res.json()) as T
  }

  private async done(res: Response): Promise<void> {
    if (!res.ok) throw await this.failure(res)
    discard(res)
  }

  async logout(options: { scope?: LogoutScope } = {}): Promise<void> {
    const scope = options.scope ?? 'current'
    if (scope !== 'current') return this.logoutAccount(scope)
    const since = this.now()
    await this.coordinator.withLock(async () => {
      const tokens = this.bearer ? await this.storage.get() : null
      if (this.bearer && !tokens) return this.endSession('logout', since, false)
      const headers = this.baseHeaders()
      let body: string | undefined
      if (tokens) {
        headers.set('authorization', `Bearer ${tokens.accessToken}`)
        headers.set('content-type', 'application/json')
        body = JSON.stringify({ refresh_token: tokens.refreshToken })
      }
      let res: Response
      try {
        res = await send(this.http, this.authUrl('/logout'), { method: 'POST', headers, body, credentials: this.credentials() }, { retryUnknownOutcome: true })
      } catch (err) {
        // The device forgets its tokens even if the server could not be told; cookies, which
        // only the server can clear, stay, and so does the session.
        if (this.bearer && err instanceof AuthError) await this.endSession('logout', since, false)
        throw err
      }
      // 401: there was no live session to end, which is what was asked.
      if (res.ok || res.status === 401) {
        discard(res)
        return this.endSession('logout', since, false)
      }
      const err = await errorFromResponse(res)
      if (this.bearer && err.kind === 'transient') await this.endSession('logout', since, false)
      throw err
    })
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.fetchRefreshing(path, init)
    // Step-up: the route wants a stronger or more recent authentication. The app's prompt
    // re-authenticates this session; then the request goes once more.
    const stepUp = this.onStepUp ? await readStepUp(res) : null
    if (!stepUp || !(await this.askStepUp(stepUp))) return res
    discard(res)
    return this.fetchRefreshing(path, init)
  }

  /** The app's step-up prompt: true once it has re-authenticated this session. */
  private async askStepUp(challenge: StepUpChallenge): Promise<boolean> {
    if (!this.onStepUp) return false
    try {
      return (await this.onStepUp(challenge)) === true
    } catch {
      return false
    }
  }

  private async fetchRefreshing(path: string, init: RequestInit): Promise<Response> {
    const url = this.url(path)
    const opts = { retryUnknownOutcome: IDEMPOTENT.has((init.method ?? 'GET').toUpperCase()) }
    let basis = await this.basis()
    let res = await send(this.http, url, this.authed(init, basis.tokens), opts)
    // Round 2 happens only when round 1 found the credentials already replaced (by another
    // request or tab) and the replacement was refused too: then it refreshes from those.
    for (let round = 0; round < 2; round++) {
      if (res.status !== 401 || !this.mayRefresh(basis)) return res
      // The token is fine; the route wants more of it: a refresh would change nothing.
      if (await readStepUp(res)) return res
      let outcome: Outcome
      try {
        outcome = await this.refreshFrom(basis)
      } catch (err) {
        discard(res)
        throw err
      }
      if (outcome === 'logged-out') return res
      const next = await this.basis()
      if (this.bearer && !next.tokens) return res
      discard(res)
      res = await send(this.http, url, this.authed(init, next.tokens), opts)
      if (outcome === 'refreshed') return res
      basis = next
    }
    return res
  }

  async refresh(): Promise<void> {
    const basis = await this.basis()
    if (this.bearer && !basis.tokens) throw new AuthError('definitive', 'unauthorized', 'not logged in', 401)
    const outcome = await this.refreshFrom(basis)
    if (outcome === 'logged-out') throw new AuthError('definitive', this.lastLogoutReason, 'the session has ended', 401)
  }

  async me(): Promise<Me> {
    const gen = this.sessionGen
    const res = await this.fetch(`${this.basePath}/me`)
    if (res.ok) {
      const me = (await res.json()) as Me
      if (this.current !== 'authenticated') this.current = 'authenticated'
      this.learnSession(me.session_id, gen)
      return me
    }
    throw await errorFromResponse(res, res.status === 401 ? 'definitive' : undefined)
  }

  async sessions(): Promise<Session[]> {
    const gen = this.sessionGen
    const res = await this.fetch(`${this.basePath}/sessions`)
    if (!res.ok) throw await this.failure(res)
    const { sessions } = (await res.json()) as { sessions: Session[] }
    this.learnSession(sessions.find((s) => s.current)?.id, gen)
    return sessions
  }

  async revokeSession(id: string): Promise<void> {
    if (typeof id !== 'string' || id === '') throw new TypeError('revokeSession needs a session id')
    const since = this.now()
    const res = await this.fetch(`${this.basePath}/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' })
    if (!res.ok) throw await this.failure(res)
    discard(res)
    // The server has ended the session these credentials belong to (and cleared the cookies):
    // waiting for the next 401 would leave the app showing a session that is gone.
    if (id === this.sessionId) await this.endSession('logout', since, false)
  }

  async events(options: { limit?: number; cursor?: string } = {}): Promise<AccountEventsPage> {
    // By hand: React Native's URLSearchParams lacks most of its methods.
    const query: string[] = []
    if (options.limit !== undefined) query.push(`limit=${encodeURIComponent(String(options.limit))}`)
    if (options.cursor !== undefined) query.push(`cursor=${encodeURIComponent(options.cursor)}`)
    const qs = query.length > 0 ? `?${query.join('&')}` : ''
    const res = await this.fetch(`${this.basePath}/sessions/events${qs}`)
    if (!res.ok) throw await this.failure(res)
    return (await res.json()) as AccountEventsPage
  }

  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    // Round 2 only after a refresh, or when the credentials were replaced while round 1 was
    // out: a password change is never sent twice with the same tokens. A step-up (the server
    // refused before checking anything) gives one more try with the new access token.
    let steppedUp = false
    for (let round = 0; ; round++) {
      let basis: Basis | null = null
      let res: Response | null
      try {
        // Under the refresh lock: it rotates this session's refresh token, as a refresh does.
        res = await this.coordinator.withLock(async () => {
          basis = await this.basis()
          if (this.bearer && !basis.tokens) return null
          return this.sendPasswordChange(basis.tokens, currentPassword, newPassword)
        })
      } catch (err) {
        if (basis && err instanceof AuthError && err.kind === 'transient') await this.settleUnknownOutcome(basis)
        throw err
      }
      if (!res) throw new AuthError('definitive', 'unauthorized', 'not logged in', 401)
      if (res.ok) return
      const b: Basis = basis!
      const stepUp = await readStepUp(res)
      const err = await errorFromResponse(res)
      if (stepUp) {
        if (steppedUp || !(await this.askStepUp(stepUp))) throw err
        steppedUp = true
        round--
        continue
      }
      if (res.status === 502 || res.status === 504) {
        await this.settleUnknownOutcome(b)
        throw err
      }
      // 403 invalid_current_password, 400, 429 / 503 (already retried by send): nothing changed.
      if (res.status !== 401) throw err
      if (hasCode(SESSION_OVER_ERRORS, err.code)) {
        const changed = await this.changedSince(b)
        if (!changed) {
          await this.endSession(err.code, b.startedAt, false)
          throw new AuthError('definitive', err.code, err.message, 401)
        }
        if (changed === 'logged-out') throw new AuthError('definitive', this.lastLogoutReason, 'the session has ended', 401)
        // The answer was about credentials replaced meanwhile: the newer ones get one try.
      } else {
        // The access token was refused (expired, revoked in memory, missing): refresh, then retry.
        if (round > 0 || !this.mayRefresh(b)) throw this.residual(err)
        const outcome = await this.refreshFrom(b)
        if (outcome === 'logged-out') throw new AuthError('definitive', this.lastLogoutReason, 'the session has ended', 401)
      }
      if (round > 0) throw this.residual(err)
    }
  }

  subscribe(listener: (event: AuthEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  close(): void {
    this.coordinator.close()
    this.listeners.clear()
  }

  /** logout({ scope: 'all' | 'others' }): an authenticated call, refreshed like any other. */
  private async logoutAccount(scope: 'all' | 'others'): Promise<void> {
    const since = this.now()
    const res = await this.fetch(`${this.basePath}/logout?scope=${scope}`, { method: 'POST' })
    if (!res.ok) throw await this.failure(res)
    discard(res)
    if (scope === 'all') await this.endSession('logout', since, false)
  }

  private async sendPasswordChange(tokens: Tokens | null, currentPassword: string, newPassword: string): Promise<Response> {
    const body: Record<string, string> = { current_password: currentPassword, new_password: newPassword }
    // Bearer: the server rotates this session's refresh token, so it must see it; cookie
    // mode sends the refresh cookie (its path covers the auth routes).
    if (tokens) body.refresh_token = tokens.refreshToken
    const init = this.authed({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, tokens)
    this.coordinator.post({ type: 'refreshing' })
    let res: Response
    try {
      // Never re-sent after a lost answer: the new password would then be checked as the
      // current one, fail, and count as a failed login.
      res = await send(this.http, this.authUrl('/password'), init, { retryUnknownOutcome: false })
    } catch (err) {
      this.coordinator.post({ type: 'refresh-failed' })
      throw err
    }
    if (!res.ok) {
      this.coordinator.post({ type: 'refresh-failed' })
      return res
    }
    await this.acceptTokens(res)
    this.changed('authenticated', this.now())
    this.coordinator.post({ type: 'refreshed' })
    this.emit({ type: 'refresh', remote: false })
    return res
  }

  /**
   * A password change whose answer was lost may have rotated the refresh token: the server
   * answers a refresh with the old one, within its reuse window, with the same new pair. Done
   * at once, before that window closes; if it fails too, the next 401 tries again.
   */
  private async settleUnknownOutcome(basis: Basis): Promise<void> {
    try {
      await this.refreshFrom(basis)
    } catch {
      // the original error is the one to report
    }
  }

  /** Resolves on the status expected (the body read and dropped); throws the answer's error otherwise. */
  private async expect(res: Response, status: number): Promise<void> {
    if (res.status !== status) throw await errorFromResponse(res)
    discard(res)
  }

  /**
   * After the server may have ended or changed this client's session (a reset, an undone
   * change of address, a verification): one refresh finds out. An ended session logs out here
   * and in the other tabs; a live one gets fresh tokens. Never throws: the caller's own request
   * has succeeded either way, and a transient failure leaves the next request to find out.
   */
  private async settleSession(): Promise<void> {
    if (this.current === 'anonymous') return
    const basis = await this.basis()
    if (this.bearer && !basis.tokens) return
    try {
      await this.refreshFrom(basis)
    } catch {
      // transient: the next authenticated request refreshes again
    }
  }

  /** The error for an answer that the refresh machinery did not fix. */
  private async failure(res: Response): Promise<AuthError> {
    const err = await errorFromResponse(res)
    return res.status === 401 ? this.residual(err) : err
  }

  /**
   * A 401 left over: `definitive` when the client has no session (it logged out on the way,
   * or never had one), else `rejected` (the server refused credentials that still refresh).
   */
  private residual(err: AuthError): AuthError {
    if (this.current === 'authenticated') return err
    return new AuthError('definitive', err.code, err.message, err.status, err.retryAfterMs)
  }

  // ---- refresh ----------------------------------------------------------------------------

  private mayRefresh(basis: Basis): boolean {
    if (this.bearer) return basis.tokens !== null
    // A page known to be logged out does not knock on {basePath}/refresh after every 401.
    return this.current !== 'anonymous' || this.epoch !== basis.epoch
  }

  /** Shares one refresh among every caller in this page. */
  private async refreshFrom(basis: Basis): Promise<Outcome> {
    const changed = await this.changedSince(basis)
    if (changed) return changed
    this.inflight ??= this.coordinator
      .withLock((contended) => this.refreshLocked(basis, contended))
      .finally(() => {
        this.inflight = null
      })
    return this.inflight
  }

  /** Whether the credentials `basis` was taken from have since been replaced (and how). */
  private async changedSince(basis: Basis): Promise<Outcome | null> {
    // Cookies cannot be read: what this page did or heard of since the request began is
    // all there is to go on. (A change announced late may be older than the request; the
    // caller's retry then fails again and refreshes for real.)
    if (!this.bearer) {
      if (this.epoch === basis.epoch) return null
      return this.current === 'anonymous' ? 'logged-out' : 'superseded'
    }
    // Bearer: the stored tokens are the truth.
    const stored = await this.storage.get()
    if (!stored) {
      if (basis.tokens) await this.endSession('logged_out_elsewhere', basis.startedAt, true)
      return 'logged-out'
    }
    return sameTokens(stored, basis.tokens) ? null : 'superseded'
  }

  private async refreshLocked(basis: Basis, contended: boolean): Promise<Outcome> {
    // While we waited, another tab (or this page) may have refreshed, logged in or out.
    const changed = await this.changedSince(basis)
    if (changed) return changed
    if (!this.bearer && contended && this.probePath !== null && (await this.probe())) {
      // The cookies another tab just got already work; its broadcast may still be on its way.
      this.changed('authenticated', this.now())
      return 'superseded'
    }
    return this.doRefresh(basis)
  }

  private async probe(): Promise<boolean> {
    try {
      const res = await send(this.http, this.url(this.probePath!), this.authed({}, null), { retryUnknownOutcome: false })
      discard(res)
      return res.ok
    } catch {
      return false
    }
  }

  private async doRefresh(basis: Basis): Promise<Outcome> {
    const used = this.bearer ? await this.storage.get() : null
    const headers = this.baseHeaders()
    let body: string | undefined
    if (used) {
      headers.set('content-type', 'application/json')
      body = JSON.stringify({ refresh_token: used.refreshToken })
    }
    this.coordinator.post({ type: 'refreshing' })
    let res: Response
    try {
      res = await send(this.http, this.authUrl('/refresh'), { method: 'POST', headers, body, credentials: this.credentials() }, { retryUnknownOutcome: true })
    } catch (err) {
      this.coordinator.post({ type: 'refresh-failed' })
      throw err
    }
    if (res.ok) {
      await this.acceptTokens(res)
      this.changed('authenticated', this.now())
      this.coordinator.post({ type: 'refreshed' })
      this.emit({ type: 'refresh', remote: false })
      return 'refreshed'
    }
    const err = await errorFromResponse(res)
    if (res.status === 401 || (res.status === 400 && hasCode(DEFINITIVE_REFRESH_ERRORS, err.code))) {
      // Definitive, but only for the credentials it was about: if they were replaced
      // meanwhile (a login, another tab's refresh), the newer ones stay.
      const changed = await this.changedSince({ ...basis, tokens: used ?? basis.tokens })
      if (changed) {
        this.coordinator.post({ type: 'refresh-failed' })
        return changed
      }
      await this.endSession(err.code, basis.startedAt, false)
      return 'logged-out'
    }
    this.coordinator.post({ type: 'refresh-failed' })
    throw err
  }

  /** Bearer: stores the tokens of a login or refresh answer. Cookie: the cookies already hold them. */
  private async acceptTokens(res: Response): Promise<void> {
    if (this.bearer) return this.storage.set(await readTokens(res))
    // Read (not cancelled): it is small, and the connection is then free for reuse.
    await res.text().catch(() => '')
  }

  // ---- state --------------------------------------------------------------------------------

  private changed(state: SessionState, at: number): void {
    this.current = state
    this.epoch++
    this.lastChange = Math.max(this.lastChange, at)
  }

  /**
   * The session is over. `remote`: another tab said so (it already cleared what is shared,
   * and told everyone). `since`: when the request that found out began.
   */
  private async endSession(reason: AuthErrorCode, since: number, remote: boolean): Promise<void> {
    const was = this.current
    if (this.bearer && !remote) await this.storage.clear()
    this.forgetSession()
    this.changed('anonymous', this.now())
    this.lastLogoutReason = reason
    if (!remote) this.coordinator.post({ type: 'logged-out', since, reason })
    // A page that loaded without a session and finds none (`unauthorized`) lost nothing.
    if (was === 'authenticated' || (was === 'unknown' && reason !== 'unauthorized')) {
      try {
        this.onLogout?.({ reason, remote })
      } catch {
        // the app's handler must not break the client
      }
      this.emit({ type: 'logout', reason, remote })
    }
  }

  private async onTabMessage(m: TabMessage): Promise<void> {
    if (m.type === 'refreshing' || m.type === 'refresh-failed') return
    if (m.type === 'logged-out') {
      // A failure that began before our credentials last changed is about older ones.
      if (this.lastChange > m.since) return
      if (this.bearer && (await this.storage.get())) return // tokens not shared with that tab
      // Another tab may run another version of this SDK: its reason is checked, not trusted.
      return this.endSession(isAuthErrorCode(m.reason) ? m.reason : 'logged_out_elsewhere', m.since, true)
    }
    if (this.bearer && !(await this.storage.get())) return
    if (m.type === 'logged-in') this.forgetSession()
    this.changed('authenticated', m.at)
    this.emit({ type: m.type === 'refreshed' ? 'refresh' : 'login', remote: true })
  }

  private learnSession(id: string | undefined, gen: number): void {
    if (id !== undefined && gen === this.sessionGen) this.sessionId = id
  }

  private forgetSession(): void {
    this.sessionId = null
    this.sessionGen++
  }

  private emit(e: AuthEvent): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch {
        // a listener's bug is its own
      }
    }
  }

  // ---- requests ---------------------------------------------------------------------------

  private async basis(): Promise<Basis> {
    const epoch = this.epoch
    return { epoch, tokens: this.bearer ? await this.storage.get() : null, startedAt: this.now() }
  }

  private url(path: string): string {
    if (!path.startsWith('/') || path.startsWith('//')) {
      // Credentials go to the configured API only, never to a URL a caller passed through.
      throw new TypeError(`path must start with a single "/" (got ${JSON.stringify(path)})`)
    }
    return this.baseUrl + path
  }

  private authUrl(route: string): string {
    return this.url(this.basePath + route)
  }

  private credentials(): RequestCredentials {
    // Cookie mode needs the cookies (also cross-origin, when the API allowlists the page);
    // Bearer mode must not mix in whatever cookies a browser holds.
    return this.bearer ? 'omit' : 'include'
  }

  private baseHeaders(init?: HeadersInit): Headers {
    const h = new Headers(init)
    if (!this.bearer) h.set(TRANSPORT_HEADER, 'cookie')
    return h
  }

  private authed(init: RequestInit, tokens: Tokens | null): RequestInit {
    const headers = this.baseHeaders(init.headers)
    if (tokens) headers.set('authorization', `Bearer ${tokens.accessToken}`)
    return { ...init, headers, credentials: init.credentials ?? this.credentials() }
  }

  private jsonPost(payload: unknown): RequestInit {
    const headers = this.baseHeaders({ 'content-type': 'application/json' })
    return { method: 'POST', headers, body: JSON.stringify(payload), credentials: this.credentials() }
  }
}

function jsonInit(payload: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) }
}

function proofBody(proof: EmailProof): Record<string, string> {
  if ('token' in proof && typeof proof.token === 'string') return { token: proof.token }
  if ('email' in proof && 'code' in proof) return { email: proof.email, code: proof.code }
  throw new TypeError('pass { token } (from the link) or { email, code } (typed from the mail)')
}

function normalizeBasePath(path: string | undefined): string {
  if (path === undefined) return '/auth'
  const p = path.replace(/\/+$/, '')
  // Same rule as request paths: the credentials must not be sent anywhere but baseUrl.
  if (p !== '' && (!p.startsWith('/') || p.startsWith('//') || /[?#\\]/.test(p))) {
    throw new TypeError(`basePath must be '' or start with a single "/" and hold no query (got ${JSON.stringify(path)})`)
  }
  return p
}

async function readTokens(res: Response): Promise<Tokens> {
  const body = (await res.json()) as { access_token?: unknown; refresh_token?: unknown }
  if (typeof body.access_token !== 'string' || typeof body.refresh_token !== 'string') {
    throw new AuthError('rejected', 'invalid_response', 'the token response has no tokens', res.status)
  }
  return { accessToken: body.access_token, refreshToken: body.refresh_token }
}
