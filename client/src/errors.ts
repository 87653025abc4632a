// What the SDK throws, and how it classifies the server's answers.
import { ERROR_CODES, type ErrorCode } from './error-codes.js'

export { ERROR_CODES, type ErrorCode }

/** Codes the SDK produces itself; the server never sends them. */
export type ClientErrorCode =
  /** no answer arrived */
  | 'network_error'
  /** no answer within `timeoutMs` */
  | 'timeout'
  /** a success answer without what it must carry (tokens) */
  | 'invalid_response'
  /** a proof of work was asked for and WebCrypto is missing */
  | 'proof_of_work_unsupported'
  /** the session ended here (`logout()`), or elsewhere in the app or another tab */
  | 'logout'
  | 'logged_out_elsewhere'
  /** no WebAuthn here (not a browser, not a secure context), or the browser refused the request */
  | 'passkeys_unsupported'
  /** the passkey prompt was dismissed, timed out or aborted */
  | 'passkey_cancelled'

/**
 * An answer whose body has no code of the catalogue: a proxy's HTML error page, or a code
 * added to a newer server than this SDK knows. The server's description, if any, is kept as
 * the message.
 */
export type HttpStatusCode = `http_${number}`

export type AuthErrorCode = ErrorCode | ClientErrorCode | HttpStatusCode

const SERVER_CODES: ReadonlySet<string> = new Set(ERROR_CODES)
const CLIENT_CODES: ReadonlySet<string> = new Set<ClientErrorCode>([
  'network_error',
  'timeout',
  'invalid_response',
  'proof_of_work_unsupported',
  'logout',
  'logged_out_elsewhere',
  'passkeys_unsupported',
  'passkey_cancelled',
])

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && SERVER_CODES.has(value)
}

/** Whether `value` is a code an AuthError can carry (what another tab sends is not trusted to be). */
export function isAuthErrorCode(value: unknown): value is AuthErrorCode {
  return typeof value === 'string' && (SERVER_CODES.has(value) || CLIENT_CODES.has(value) || /^http_\d{3}$/.test(value))
}

/**
 * Answers from any authenticated route that end the session itself, not just the access
 * token: the refresh token was reused, the session was revoked or has expired, or its
 * refresh token is unknown. Anything else in a 401 (an expired or missing access token) is
 * worth a refresh first.
 */
export const SESSION_OVER_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'refresh_token_reused',
  'session_revoked',
  'session_expired',
  'invalid_refresh_token',
])

/** Refresh answers that end the session for good: the user must log in again. */
export const DEFINITIVE_REFRESH_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ...SESSION_OVER_ERRORS,
  // from the refresh route itself: no refresh token was sent (no cookie: never logged in)
  'unauthorized',
  // RFC 6749 §5.2, for servers answering the OAuth form grant
  'invalid_grant',
])

/** `set.has(code)` for any code an AuthError carries (a set of server codes only takes those). */
export function hasCode(set: ReadonlySet<ErrorCode>, code: AuthErrorCode): boolean {
  return (set as ReadonlySet<string>).has(code)
}

/** Statuses that say "nothing happened, try again later". */
export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504])

/**
 * - `definitive`: the session is over (the client has logged out);
 * - `transient`: the server or the network failed; credentials are kept, try again later;
 * - `rejected`: the server refused this request (bad credentials, validation, CSRF...);
 *   the session, if any, is untouched.
 */
export type AuthErrorKind = 'definitive' | 'transient' | 'rejected'

export class AuthError extends Error {
  override readonly name = 'AuthError'
  constructor(
    readonly kind: AuthErrorKind,
    /** the server's stable code (`invalid_credentials`, `service_unavailable`...), or one of the SDK's (`network_error`, `timeout`...) */
    readonly code: AuthErrorCode,
    message: string,
    /** HTTP status, 0 when no answer arrived */
    readonly status = 0,
    /** how long the server asked us to wait, when it said */
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

export interface ErrorBody {
  error: ErrorCode | HttpStatusCode
  error_description?: string
}

/**
 * The server's `{error, error_description}`, or a stand-in (`http_<status>`) when the body is
 * something else or its code is not one this SDK was built with.
 */
export async function readErrorBody(res: Response): Promise<ErrorBody> {
  let description: string | undefined
  try {
    const body = (await res.json()) as { error?: unknown; error_description?: unknown } | null
    if (body && typeof body.error_description === 'string') description = body.error_description
    if (body && isErrorCode(body.error)) return { error: body.error, error_description: description }
    // An unknown code still says what happened: kept in the message.
    if (body && typeof body.error === 'string') description = description ? `${description} (${body.error})` : body.error
  } catch {
    // not JSON
  }
  return { error: `http_${res.status}`, error_description: description ?? (res.statusText || `HTTP ${res.status}`) }
}

export async function errorFromResponse(res: Response, kind?: AuthErrorKind): Promise<AuthError> {
  const body = await readErrorBody(res)
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'))
  const k = kind ?? (TRANSIENT_STATUSES.has(res.status) ? 'transient' : 'rejected')
  return new AuthError(k, body.error, body.error_description ?? body.error, res.status, retryAfterMs)
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now)
}

/**
 * login() on an account with a second factor: the password was right, and the login waits for
 * `verifySecondFactor(error.challenge, …)` with one of `methods` (`totp`, `passkey`,
 * `recovery_code`) within `expiresInSec`.
 */
export class SecondFactorRequired extends AuthError {
  constructor(
    readonly challenge: string,
    readonly methods: string[],
    readonly expiresInSec: number,
    message: string,
  ) {
    super('rejected', 'mfa_required', message, 401)
  }
}

/** What a 401 insufficient_user_authentication asked for (RFC 9470). */
export interface StepUpChallenge {
  /** a second factor is wanted (`acr_values` named one) */
  mfa: boolean
  /** the authentication must be at most this many seconds old; null: any age */
  maxAgeSec: number | null
  /** the `acr_values` of the challenge, in order of preference */
  acrValues: string[]
}

/** The step-up a 401 asks for, from its WWW-Authenticate (or, when CORS hides it, its body); null for any other answer. */
export async function readStepUp(res: Response): Promise<StepUpChallenge | null> {
  if (res.status !== 401) return null
  const header = res.headers.get('www-authenticate') ?? ''
  if (!/error="insufficient_user_authentication"/.test(header)) {
    const body = (await res.clone().json().catch(() => null)) as { error?: unknown } | null
    if (body?.error !== 'insufficient_user_authentication') return null
  }
  const acr = /acr_values="([^"]*)"/.exec(header)?.[1]
  const maxAge = /max_age="?(\d+)"?/.exec(header)?.[1]
  const acrValues = acr ? acr.split(' ').filter(Boolean) : []
  // Without the header (CORS), a second factor and a recent one is the safe reading.
  return { mfa: header === '' || acrValues.length > 0, maxAgeSec: maxAge !== undefined ? Number(maxAge) : null, acrValues }
}
