// Session revocations as Security Event Tokens (RFC 8417) carrying the CAEP 1.0
// `session-revoked` event (OpenID Shared Signals Framework): a JWT signed with the current
// EdDSA key, typ `secevent+jwt`, addressed to one subscriber. The subject is the session id,
// as an opaque identifier: no email, no user id. The resource server (src/resource-server/)
// verifies what this signs; both sides take the shape from here.
import { randomUUID, sign, type KeyObject } from 'node:crypto'
import type { DenylistEntry } from '../tokens/denylist.js'

export const SET_TYP = 'secevent+jwt'
export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked'

/** Who ended the session, in CAEP's words (`initiating_entity`). */
const INITIATED_BY: Record<DenylistEntry['reason'], 'admin' | 'user' | 'policy' | 'system'> = {
  logout: 'user',
  user_revoked: 'user',
  password_changed: 'user',
  password_reset: 'user',
  email_change_undone: 'user',
  admin: 'admin',
  reuse_detected: 'policy',
  unknown: 'system',
}

export interface SessionRevokedClaims {
  iss: string
  aud: string
  iat: number
  jti: string
  sub_id: { format: 'opaque'; id: string }
  events: {
    [SESSION_REVOKED]: {
      /** seconds, rounded up: a subscriber that keeps the entry from here never drops it early */
      event_timestamp: number
      initiating_entity: string
      reason_admin: { en: string }
    }
  }
}

const b64u = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

export function sessionRevokedClaims(entry: DenylistEntry, issuer: string, audience: string, now = Date.now()): SessionRevokedClaims {
  return {
    iss: issuer,
    aud: audience,
    iat: Math.floor(now / 1000),
    jti: randomUUID(),
    sub_id: { format: 'opaque', id: entry.sid },
    events: {
      [SESSION_REVOKED]: {
        event_timestamp: Math.ceil(entry.revokedAt / 1000),
        initiating_entity: INITIATED_BY[entry.reason],
        reason_admin: { en: entry.reason },
      },
    },
  }
}

/** A compact JWS over the claims, Ed25519 (EdDSA), with the key's id. */
export function signSecurityEvent(claims: SessionRevokedClaims, key: { kid: string; privateKey: KeyObject }): string {
  const input = `${b64u({ alg: 'EdDSA', typ: SET_TYP, kid: key.kid })}.${b64u(claims)}`
  return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString('base64url')}`
}
