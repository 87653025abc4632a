// The OAuth clients the service knows (RFC 6749 §2). Public clients (the web app, the mobile
// app) only name themselves: they hold no secret, and their client_id goes into the session
// and every access token of it (RFC 9068). Confidential clients (resource servers, gateways)
// authenticate with a secret, to introspect tokens and to read the revocation feed. Only a
// SHA-256 of each secret is kept: secrets are long random strings, so a slow hash would add
// nothing but latency, and the comparison is of fixed-length digests in constant time.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import { weakSecretReason } from '../secrets.js'

/** What an operator configures for a confidential client (OAUTH_CLIENTS holds an array of these). */
export interface ConfidentialClientOption {
  client_id: string
  client_secret: string
}

export interface ClientRegistry {
  /** the public clients' ids; login names one, or gets the default */
  publicClients: ReadonlySet<string>
  defaultClient: string
  /** client_id -> SHA-256 of its secret */
  confidential: ReadonlyMap<string, Buffer>
}

// Ids travel in form bodies, Basic credentials, tokens and logs: printable, no separators.
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,64}$/

export const DEFAULT_PUBLIC_CLIENTS = ['web', 'mobile']

const digest = (secret: string) => createHash('sha256').update(secret, 'utf8').digest()

/** Checks the clients option; problems go to `fail(option, message)`, named by their path. */
export function resolveClients(
  input: { public?: unknown; defaultClient?: unknown; confidential?: unknown } | undefined,
  production: boolean,
  fail: (option: string, message: string) => void,
): ClientRegistry {
  const publicList = input?.public ?? DEFAULT_PUBLIC_CLIENTS
  const publicClients = new Set<string>()
  if (!Array.isArray(publicList) || publicList.length === 0) fail('clients.public', 'must be a non-empty array of client ids, e.g. ["web", "mobile"]')
  else {
    for (const id of publicList) {
      if (typeof id !== 'string' || !CLIENT_ID.test(id)) fail('clients.public', `"${String(id)}" is not a client id (1-64 of A-Z a-z 0-9 . _ ~ -)`)
      else publicClients.add(id)
    }
  }
  const defaultClient = input?.defaultClient ?? [...publicClients][0] ?? 'web'
  if (typeof defaultClient !== 'string' || !publicClients.has(defaultClient)) fail('clients.defaultClient', 'must be one of clients.public')

  const confidential = new Map<string, Buffer>()
  const list = input?.confidential ?? []
  if (!Array.isArray(list)) fail('clients.confidential', 'must be an array of {client_id, client_secret}')
  else {
    for (const [i, entry] of list.entries()) {
      const c = entry as Partial<ConfidentialClientOption> | null
      if (typeof c !== 'object' || c === null || typeof c.client_id !== 'string' || !CLIENT_ID.test(c.client_id)) {
        fail(`clients.confidential[${i}]`, 'needs a client_id (1-64 of A-Z a-z 0-9 . _ ~ -)')
        continue
      }
      if (publicClients.has(c.client_id) || confidential.has(c.client_id)) {
        fail(`clients.confidential[${i}]`, `client_id "${c.client_id}" is already taken by another client`)
        continue
      }
      if (typeof c.client_secret !== 'string' || c.client_secret === '') {
        fail(`clients.confidential[${i}]`, `client "${c.client_id}" needs a client_secret (32+ random characters)`)
        continue
      }
      const weak = weakSecretReason(c.client_secret)
      if (weak && production) {
        fail(`clients.confidential[${i}]`, `the client_secret of "${c.client_id}" is too weak: ${weak}`)
        continue
      }
      confidential.set(c.client_id, digest(c.client_secret))
    }
  }
  return { publicClients, defaultClient: typeof defaultClient === 'string' ? defaultClient : 'web', confidential }
}

/** A client as it identified itself on a request. */
export type CallingClient = { id: string; confidential: boolean }

/**
 * Who is calling an OAuth endpoint (RFC 6749 §2.3): a confidential client by HTTP Basic
 * (client_secret_basic, id and secret form-urlencoded) or by client_id and client_secret in the
 * form (client_secret_post); a public client by client_id alone, unless `confidentialOnly`.
 * Anything else is 401 invalid_client with a Basic challenge; which part was wrong is not said.
 */
export function authenticateClient(request: FastifyRequest, clients: ClientRegistry, opts: { confidentialOnly: boolean }): CallingClient {
  const body = (request.body ?? {}) as { client_id?: unknown; client_secret?: unknown }
  const header = request.headers.authorization
  let id: string | null = null
  let secret: string | null = null
  if (header !== undefined) {
    const basic = parseBasic(header)
    // Credentials in two places are ambiguous (RFC 6749 §2.3: one method per request).
    if (!basic || body.client_secret !== undefined) throw invalidClient()
    ;({ id, secret } = basic)
    if (typeof body.client_id === 'string' && body.client_id !== id) throw invalidClient()
  } else {
    if (typeof body.client_id === 'string') id = body.client_id
    if (typeof body.client_secret === 'string') secret = body.client_secret
  }
  if (id === null) throw invalidClient()
  if (secret !== null) {
    const expected = clients.confidential.get(id)
    // A digest of the right length either way, so an unknown id costs the same comparison.
    const ok = timingSafeEqual(digest(secret), expected ?? UNKNOWN) && expected !== undefined
    if (!ok) throw invalidClient()
    return { id, confidential: true }
  }
  if (opts.confidentialOnly || !clients.publicClients.has(id)) throw invalidClient()
  return { id, confidential: false }
}

const UNKNOWN = digest('\0unknown client\0')

export function invalidClient(): ApiError {
  const err = new ApiError('invalid_client')
  err.wwwAuthenticate = 'Basic realm="oauth", charset="UTF-8"'
  return err
}

/** `Basic base64(urlencode(id):urlencode(secret))`, as RFC 6749 §2.3.1 has clients send it; null if malformed. */
export function parseBasic(header: string): { id: string; secret: string } | null {
  const m = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim())
  if (!m) return null
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return null
  try {
    const id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '))
    const secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '))
    return id !== '' && secret !== '' ? { id, secret } : null
  } catch {
    return null
  }
}

/** The header a confidential client sends (the resource server, tests): RFC 6749 §2.3.1. */
export function basicAuthorization(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`
}
