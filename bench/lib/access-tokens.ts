// Access tokens for many users, signed here with the deployment's key and exactly the server's
// header and claim set, so the access runs need no login per user. run.ts checks their shape
// against a token the server issued, and every access answer must be 200. (The server keeps a
// cache of verified tokens; how many distinct tokens a run sends is part of what it measures,
// hence one-token and many-users runs.)
import { createPrivateKey, randomUUID, sign } from 'node:crypto'
import type { SeededSession } from './seed.js'

export interface SigningSettings {
  privateKeyPem: string
  kid: string
  issuer: string
  audience: string
  ttlSec: number
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

export function signAccessTokens(sessions: SeededSession[], count: number, s: SigningSettings): string[] {
  const key = createPrivateKey(s.privateKeyPem)
  const header = b64({ alg: 'EdDSA', typ: 'at+jwt', kid: s.kid })
  const iat = Math.floor(Date.now() / 1000)
  const tokens: string[] = []
  for (let i = 0; i < count; i++) {
    const session = sessions[i % sessions.length]!
    // The claim set the server issues by default: its default client, no address.
    const payload = b64({
      client_id: 'web',
      sub: session.userId,
      sid: session.familyId,
      email_verified: false,
      // as a password login issues them (RFC 8176 amr, and when)
      amr: ['pwd'],
      auth_time: iat,
      jti: randomUUID(),
      iat,
      exp: iat + s.ttlSec,
      iss: s.issuer,
      aud: s.audience,
    })
    const input = `${header}.${payload}`
    tokens.push(`${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`)
  }
  return tokens
}

export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()),
  }
}
