// What the SDK throws, and how it classifies the server's answers.

/** Refresh answers that end the session for good: the user must log in again. */
export const DEFINITIVE_REFRESH_ERRORS: ReadonlySet<string> = new Set([
  'refresh_token_reused',
  'session_revoked',
  'session_expired',
  'invalid_refresh_token',
  'unauthorized',
  // RFC 6749 §5.2, for servers answering the OAuth form grant
  'invalid_grant',
])

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
    /** the server's stable code (`invalid_credentials`, `service_unavailable`...), or `network_error` / `timeout` */
    readonly code: string,
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
  error: string
  error_description?: string
}

/** The server's `{error, error_description}`, or a stand-in when the body is something else. */
export async function readErrorBody(res: Response): Promise<ErrorBody> {
  try {
    const body = (await res.json()) as Partial<ErrorBody> | null
    if (body && typeof body.error === 'string') return { error: body.error, error_description: body.error_description }
  } catch {
    // not JSON
  }
  return { error: `http_${res.status}`, error_description: res.statusText || `HTTP ${res.status}` }
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
