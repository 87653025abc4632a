// The exact claim set of our access tokens. A token with a valid signature but any other
// shape (a claim missing, added, or of the wrong type) is refused: we never issued it.

/**
 * Claims fixed when a session starts (stored with its token family) and carried unchanged
 * into every access token its refreshes issue, so a refreshed token never claims a fresher
 * authentication, or another client, than the session had. Each is optional: present only
 * when the login set it.
 */
export interface SessionClaims {
  /** how the user authenticated (RFC 8176 values: pwd, otp, hwk, swk, mfa) */
  amr?: string[]
  /** when the user authenticated, in seconds since the epoch */
  auth_time?: number
  /** the OAuth client the session belongs to (RFC 9068) */
  client_id?: string
}

export interface AccessClaims extends SessionClaims {
  sub: string
  sid: string
  /** only when the deployment puts it in tokens (`tokens.includeEmail`): personal data stays out by default */
  email?: string
  /** the owner has proved the address (at the time the token was issued) */
  email_verified: boolean
  iat: number
  exp: number
  iss: string
  aud: string
  jti: string
}

export const ACCESS_TOKEN_TYP = 'at+jwt'

const STRING_CLAIMS = ['sub', 'sid', 'iss', 'aud', 'jti'] as const
const NUMBER_CLAIMS = ['iat', 'exp'] as const
const BOOLEAN_CLAIMS = ['email_verified'] as const
const ALL_CLAIMS = new Set<string>([...STRING_CLAIMS, ...NUMBER_CLAIMS, ...BOOLEAN_CLAIMS])
// Claims a token may carry or not, by configuration; each of the shape given when present.
const OPTIONAL_CLAIMS: Record<string, (v: unknown) => boolean> = {
  email: (v) => typeof v === 'string' && v.length > 0,
}

// Each session claim's shape; a session claim not listed here is not one we issue.
const SESSION_CLAIMS: Record<keyof SessionClaims, (v: unknown) => boolean> = {
  amr: (v) => Array.isArray(v) && v.length > 0 && v.length <= 8 && v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 16),
  auth_time: (v) => Number.isInteger(v) && (v as number) > 0,
  client_id: (v) => typeof v === 'string' && v.length > 0 && v.length <= 255,
}

export function parseSessionClaims(value: unknown): SessionClaims | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null
  return Object.keys(value).every((k) => isSessionClaim(k, (value as Record<string, unknown>)[k])) ? (value as SessionClaims) : null
}

// Own keys only: `toString` or `__proto__` in a payload must not find Object's.
const isSessionClaim = (k: string, v: unknown) => Object.hasOwn(SESSION_CLAIMS, k) && SESSION_CLAIMS[k as keyof SessionClaims](v)

export function parseAccessClaims(payload: unknown): AccessClaims | null {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return null
  const p = payload as Record<string, unknown>
  let fixed = 0
  for (const k of Object.keys(p)) {
    if (ALL_CLAIMS.has(k)) fixed++
    else if (Object.hasOwn(OPTIONAL_CLAIMS, k)) {
      if (!OPTIONAL_CLAIMS[k]!(p[k])) return null
    } else if (!isSessionClaim(k, p[k])) return null
  }
  if (fixed !== ALL_CLAIMS.size) return null
  if (!STRING_CLAIMS.every((k) => typeof p[k] === 'string' && (p[k] as string).length > 0)) return null
  if (!NUMBER_CLAIMS.every((k) => Number.isInteger(p[k]))) return null
  if (!BOOLEAN_CLAIMS.every((k) => typeof p[k] === 'boolean')) return null
  return p as unknown as AccessClaims
}
