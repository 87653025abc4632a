// The exact claim set of our access tokens. A token with a valid signature but any other
// shape (a claim missing, added, or of the wrong type) is refused: we never issued it.
export interface AccessClaims {
  sub: string
  sid: string
  email: string
  /** the owner has proved the address (at the time the token was issued) */
  email_verified: boolean
  iat: number
  exp: number
  iss: string
  aud: string
  jti: string
}

export const ACCESS_TOKEN_TYP = 'at+jwt'

const STRING_CLAIMS = ['sub', 'sid', 'email', 'iss', 'aud', 'jti'] as const
const NUMBER_CLAIMS = ['iat', 'exp'] as const
const BOOLEAN_CLAIMS = ['email_verified'] as const
const ALL_CLAIMS = new Set<string>([...STRING_CLAIMS, ...NUMBER_CLAIMS, ...BOOLEAN_CLAIMS])

export function parseAccessClaims(payload: unknown): AccessClaims | null {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return null
  const p = payload as Record<string, unknown>
  const keys = Object.keys(p)
  if (keys.length !== ALL_CLAIMS.size || !keys.every((k) => ALL_CLAIMS.has(k))) return null
  if (!STRING_CLAIMS.every((k) => typeof p[k] === 'string' && (p[k] as string).length > 0)) return null
  if (!NUMBER_CLAIMS.every((k) => Number.isInteger(p[k]))) return null
  if (!BOOLEAN_CLAIMS.every((k) => typeof p[k] === 'boolean')) return null
  return p as unknown as AccessClaims
}
