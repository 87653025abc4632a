// The OAuth endpoints as an ordinary client library uses them: oauth4webapi against the
// standalone server on a real socket (discovery, the refresh grant, RFC 7009 revocation, RFC
// 7662 introspection), then what the RFCs ask that a library does not check: the metadata at
// both locations, client authentication, inactive answers without detail, and revocation
// reflected by introspection at once and by a second instance within a second.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../src/db/embedded.js'
import { basicAuthorization } from '../../src/oauth/clients.js'
import { SseParser, type SseEvent } from '../../src/resource-server/sse.js'
import { SESSION_REVOKED } from '../../src/oauth/security-events.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { me, post, signup, startCluster, timeUntil, type Cluster } from '../helpers/instances.js'

const SECRET = randomBytes(32).toString('base64url')
const CLIENTS = JSON.stringify([{ client_id: 'gateway', client_secret: SECRET }])
const insecure = { [oauth.allowInsecureRequests]: true }

let t: TestApp
let base: string
let issuer: string
let as: oauth.AuthorizationServer

beforeAll(async () => {
  const port = await freePort()
  t = await buildTestApp({ env: { HOST: '127.0.0.1', PORT: String(port), OAUTH_CLIENTS: CLIENTS, REVOCATION_FEED_HEARTBEAT_MS: '200' } })
  await t.app.listen({ host: '127.0.0.1', port })
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
  issuer = t.config.jwt.issuer
  as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }))
})
afterAll(async () => {
  // undici keeps connections of this file's fetches open that Fastify's close does not see as
  // idle once a feed stream has run on the same pool; the drain of feed streams themselves is
  // test/app/feed-shutdown.test.ts.
  t?.app.server.closeAllConnections()
  await t?.close()
})

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
const login = async (clientId?: string) => {
  const s = await signup(base)
  if (!clientId) return s
  const res = await post(base, '/auth/login', { email: s.email, password: s.password, client_id: clientId })
  expect(res.status).toBe(200)
  return { ...s, accessToken: res.json.access_token as string, refreshToken: res.json.refresh_token as string, sid: claimsOf(res.json.access_token).sid as string }
}
const form = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields) })

describe('discovery (RFC 8414)', () => {
  it('the issuer is this server\'s URL plus the mount path, and every access token says it exactly', async () => {
    expect(issuer).toBe(`${base}/auth`)
    const s = await login()
    expect(claimsOf(s.accessToken).iss).toBe(issuer)
    expect(as.issuer).toBe(issuer)
  })

  it('serves one document at the path-inserted location and at the OpenID Connect one', async () => {
    const inserted = await fetch(`${base}/.well-known/oauth-authorization-server/auth`)
    const oidc = await fetch(`${base}/auth/.well-known/openid-configuration`)
    expect([inserted.status, oidc.status]).toEqual([200, 200])
    const doc = await inserted.json()
    expect(await oidc.json()).toEqual(doc)
    expect(doc).toEqual({
      issuer,
      token_endpoint: `${issuer}/refresh`,
      token_endpoint_auth_methods_supported: ['none'],
      grant_types_supported: ['refresh_token'],
      response_types_supported: [],
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      introspection_endpoint: `${issuer}/oauth/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      session_revocation_feed_endpoint: `${issuer}/oauth/revocation-feed`,
    })
    // oauth4webapi's OpenID Connect form finds the same document.
    const viaOidc = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oidc', ...insecure }))
    expect(viaOidc).toEqual(as)
  })

  it('under HS256 no key is published, so neither jwks_uri nor the feed is offered, and the feed answers 404', async () => {
    const hs = await buildTestApp({ env: { JWT_ALGORITHM: 'HS256', JWT_SECRET: randomBytes(36).toString('base64url'), OAUTH_CLIENTS: CLIENTS } })
    try {
      const doc = (await hs.app.inject({ url: '/.well-known/oauth-authorization-server/auth' })).json()
      expect(doc.jwks_uri).toBeUndefined()
      expect(doc.session_revocation_feed_endpoint).toBeUndefined()
      const feed = await hs.app.inject({ url: '/auth/oauth/revocation-feed', headers: { authorization: basicAuthorization('gateway', SECRET) } })
      expect([feed.statusCode, feed.json().error]).toEqual([404, 'not_found'])
    } finally {
      await hs.close()
    }
  })
})

describe('clients (RFC 9068 client_id)', () => {
  it('a login names its public client, and every token of the session carries it, refreshes included', async () => {
    const s = await login('mobile')
    expect(claimsOf(s.accessToken).client_id).toBe('mobile')
    const refreshed = await post(base, '/auth/refresh', { refresh_token: s.refreshToken })
    expect(claimsOf(refreshed.json.access_token).client_id).toBe('mobile')
  })

  it('a login naming no client gets the default one; an unknown client is 400 invalid_request before any password work', async () => {
    const s = await login()
    expect(claimsOf(s.accessToken).client_id).toBe('web')
    const res = await post(base, '/auth/login', { email: s.email, password: s.password, client_id: 'nobody' })
    expect([res.status, res.json.error]).toEqual([400, 'invalid_request'])
    // nor may a confidential client log users in
    expect((await post(base, '/auth/login', { email: s.email, password: s.password, client_id: 'gateway' })).status).toBe(400)
  })
})

describe('the refresh grant (RFC 6749 §6) through oauth4webapi', () => {
  it('rotates: token_type, expires_in, a new refresh token, Cache-Control: no-store', async () => {
    const s = await login('mobile')
    const res = await oauth.refreshTokenGrantRequest(as, { client_id: 'mobile' }, oauth.None(), s.refreshToken, insecure)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const tokens = await oauth.processRefreshTokenResponse(as, { client_id: 'mobile' }, res)
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 900 })
    expect(tokens.refresh_token).not.toBe(s.refreshToken)
    expect(claimsOf(tokens.access_token)).toMatchObject({ sid: s.sid, client_id: 'mobile', iss: issuer })
  })

  it('a revoked session is invalid_grant (§5.2), which the library reports as such', async () => {
    const s = await login('mobile')
    await post(base, '/auth/logout', { refresh_token: s.refreshToken })
    const res = await oauth.refreshTokenGrantRequest(as, { client_id: 'mobile' }, oauth.None(), s.refreshToken, insecure)
    const err = await oauth.processRefreshTokenResponse(as, { client_id: 'mobile' }, res).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(oauth.ResponseBodyError)
    expect([(err as oauth.ResponseBodyError).status, (err as oauth.ResponseBodyError).error]).toEqual([400, 'invalid_grant'])
  })
})

describe('revocation (RFC 7009)', () => {
  it('oauth4webapi revokes a refresh token: its whole session ends, the access token with it', async () => {
    const s = await login('mobile')
    const res = await oauth.revocationRequest(as, { client_id: 'mobile' }, oauth.None(), s.refreshToken, { ...insecure, additionalParameters: { token_type_hint: 'refresh_token' } })
    await oauth.processRevocationResponse(res)
    expect((await me(base, s.accessToken)).json.error).toBe('session_revoked')
    expect((await post(base, '/auth/refresh', { refresh_token: s.refreshToken })).json.error).toBe('session_revoked')
    const [row] = await adminQuery<{ revoked_reason: string }>('SELECT revoked_reason FROM auth.token_families WHERE id = $1', [s.sid], t.databaseUrl)
    expect(row!.revoked_reason).toBe('logout')
  })

  it('revokes an access token\'s session, with or without a hint, by a public or a confidential client', async () => {
    for (const [clientId, auth, hint] of [['mobile', oauth.None(), undefined], ['gateway', oauth.ClientSecretBasic(SECRET), 'access_token'], ['gateway', oauth.ClientSecretPost(SECRET), 'refresh_token']] as const) {
      const s = await login('mobile')
      const client = { client_id: clientId }
      const res = await oauth.revocationRequest(as, client, auth, s.accessToken, { ...insecure, ...(hint ? { additionalParameters: { token_type_hint: hint } } : {}) })
      await oauth.processRevocationResponse(res)
      expect((await me(base, s.accessToken)).json.error).toBe('session_revoked')
    }
  })

  it('answers 200 for unknown tokens, expired ones and ones already revoked', async () => {
    const s = await login('web')
    for (const token of ['never-issued', 'a.b.c', s.refreshToken, s.refreshToken]) {
      const res = await form('/auth/oauth/revoke', { token, client_id: 'web' })
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
    }
  })

  it('a public client may not revoke another client\'s tokens; unknown clients and wrong secrets are 401 invalid_client', async () => {
    const s = await login('mobile')
    const other = await form('/auth/oauth/revoke', { token: s.refreshToken, client_id: 'web' })
    expect([other.status, (await other.json()).error]).toEqual([400, 'invalid_request'])
    expect((await me(base, s.accessToken)).status).toBe(200)
    for (const [fields, headers] of [
      [{ token: s.refreshToken }, {} as Record<string, string>],
      [{ token: s.refreshToken, client_id: 'nobody' }, {}],
      [{ token: s.refreshToken }, { authorization: basicAuthorization('gateway', 'wrong') }],
      [{ token: s.refreshToken, client_id: 'gateway', client_secret: 'wrong' }, {}],
    ] as const) {
      const res = await form('/auth/oauth/revoke', fields, headers)
      expect([res.status, (await res.json()).error]).toEqual([401, 'invalid_client'])
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic /)
    }
    expect((await me(base, s.accessToken)).status).toBe(200)
  })

  it('takes only form bodies', async () => {
    const res = await fetch(`${base}/auth/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'x', client_id: 'web' }) })
    expect([res.status, (await res.json()).error]).toEqual([415, 'unsupported_media_type'])
  })
})

describe('introspection (RFC 7662)', () => {
  const gateway = { client_id: 'gateway' }

  it('oauth4webapi introspects an active access token: sub, sid, client_id, exp, iat, iss, aud, token_type, no email', async () => {
    const s = await login('mobile')
    for (const auth of [oauth.ClientSecretBasic(SECRET), oauth.ClientSecretPost(SECRET)]) {
      const res = await oauth.introspectionRequest(as, gateway, auth, s.accessToken, insecure)
      expect(res.headers.get('cache-control')).toBe('no-store')
      const body = await oauth.processIntrospectionResponse(as, gateway, res)
      const c = claimsOf(s.accessToken)
      expect(body).toEqual({ active: true, token_type: 'Bearer', client_id: 'mobile', sub: c.sub, sid: c.sid, iss: issuer, aud: c.aud, iat: c.iat, exp: c.exp })
    }
  })

  it('reflects a revocation at once: the session is read from its row, not from the denylist', async () => {
    const s = await login()
    // Revoked behind every instance's back: no notification, no denylist entry yet.
    await adminQuery(`UPDATE auth.token_families SET revoked_at = now(), revoked_reason = 'admin' WHERE id = $1`, [s.sid], t.databaseUrl)
    const res = await oauth.introspectionRequest(as, gateway, oauth.ClientSecretBasic(SECRET), s.accessToken, insecure)
    expect(await oauth.processIntrospectionResponse(as, gateway, res)).toEqual({ active: false })
  })

  it('a live refresh token is active; once rotated it is not; forged, expired and foreign tokens are {active: false} with nothing else', async () => {
    const s = await login('web')
    const ask = async (token: string) => (await form('/auth/oauth/introspect', { token }, { authorization: basicAuthorization('gateway', SECRET) })).json()
    expect(await ask(s.refreshToken)).toMatchObject({ active: true, token_type: 'refresh_token', client_id: 'web', sid: s.sid })
    await post(base, '/auth/refresh', { refresh_token: s.refreshToken })
    expect(await ask(s.refreshToken)).toEqual({ active: false })
    const [h, p] = s.accessToken.split('.')
    for (const token of ['junk', `${h}.${p}.AAAA`, 'a.b.c']) expect(await ask(token)).toEqual({ active: false })
  })

  it('only confidential clients may ask: none, a public client, or a wrong secret is 401 invalid_client with a Basic challenge', async () => {
    const s = await login()
    for (const [fields, headers] of [
      [{ token: s.accessToken }, {} as Record<string, string>],
      [{ token: s.accessToken, client_id: 'web' }, {}],
      [{ token: s.accessToken }, { authorization: basicAuthorization('gateway', `${SECRET}x`) }],
      [{ token: s.accessToken }, { authorization: basicAuthorization('nobody', SECRET) }],
      [{ token: s.accessToken }, { authorization: `Bearer ${s.accessToken}` }],
    ] as const) {
      const res = await form('/auth/oauth/introspect', fields, headers)
      expect([res.status, (await res.json()).error]).toEqual([401, 'invalid_client'])
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/)
    }
  })
})

describe('the revocation feed', () => {
  /** Reads events from the feed until `until` says stop. */
  async function readFeed(headers: Record<string, string>, until: (events: SseEvent[]) => boolean, onOpen: () => Promise<void> = async () => {}) {
    const abort = new AbortController()
    const res = await fetch(`${base}/auth/oauth/revocation-feed`, { headers, signal: abort.signal })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const events: SseEvent[] = []
    const parser = new SseParser((e) => events.push(e))
    const decoder = new TextDecoder()
    let opened = false
    // Aborted, not left by `break`: undici would go on reading a cancelled body to reuse its connection.
    const reader = res.body!.getReader()
    for (;;) {
      const { value } = await reader.read()
      parser.push(decoder.decode(value as Uint8Array, { stream: true }))
      if (!opened) {
        opened = true
        await onOpen()
      }
      if (until(events)) break
    }
    abort.abort()
    return events
  }

  it('refuses a subscriber without credentials, with a wrong secret, or as a public client', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: basicAuthorization('gateway', 'wrong') }, { authorization: basicAuthorization('web', 'x') }]) {
      const res = await fetch(`${base}/auth/oauth/revocation-feed`, { headers })
      expect([res.status, (await res.json()).error]).toEqual([401, 'invalid_client'])
    }
  })

  it('streams a logout as a CAEP session-revoked SET addressed to the subscriber, then syncs with a cursor', async () => {
    const s = await login()
    const events = await readFeed(
      { authorization: basicAuthorization('gateway', SECRET) },
      (es) => es.some((e) => e.event === 'set' && claimsOf(e.data).sub_id && (claimsOf(e.data).sub_id as { id: string }).id === s.sid) && es.filter((e) => e.event === 'sync').length >= 2,
      async () => {
        await post(base, '/auth/logout', { refresh_token: s.refreshToken })
      },
    )
    const set = events.find((e) => e.event === 'set' && (claimsOf(e.data).sub_id as { id: string }).id === s.sid)!
    expect(JSON.parse(Buffer.from(set.data.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'EdDSA', typ: 'secevent+jwt', kid: 'test-key' })
    const claims = claimsOf(set.data)
    expect(Object.keys(claims).sort()).toEqual(['aud', 'events', 'iat', 'iss', 'jti', 'sub_id'])
    expect(claims).toMatchObject({ iss: issuer, aud: 'gateway', sub_id: { format: 'opaque', id: s.sid } })
    expect(claims.events).toEqual({ [SESSION_REVOKED]: { event_timestamp: expect.any(Number), initiating_entity: 'user', reason_admin: { en: 'logout' } } })
    expect(set.data).not.toContain(Buffer.from(s.email).toString('base64url').slice(0, 12))
    const sync = events.find((e) => e.event === 'sync')!
    expect(JSON.parse(sync.data)).toEqual({ cursor: Number(sync.id), retain_ms: 907_000, access_token_ttl_s: 900 })
  })

  it('a reconnect with its cursor as Last-Event-ID is replayed what was revoked meanwhile', async () => {
    const auth = { authorization: basicAuthorization('gateway', SECRET) }
    const first = await readFeed(auth, (es) => es.some((e) => e.event === 'sync'))
    const cursor = first.find((e) => e.event === 'sync')!.id!
    const s = await login()
    await post(base, '/auth/logout', { refresh_token: s.refreshToken })
    const replayed = await readFeed({ ...auth, 'last-event-id': cursor }, (es) => es.some((e) => e.event === 'sync'))
    expect(replayed.filter((e) => e.event === 'set').map((e) => (claimsOf(e.data).sub_id as { id: string }).id)).toContain(s.sid)
  })
})

describe('two instances', () => {
  let c: Cluster
  beforeAll(async () => {
    c = await startCluster(2, { OAUTH_CLIENTS: CLIENTS, DENYLIST_SYNC_INTERVAL_MS: '60000' })
  })
  afterAll(() => c?.close())

  it('an RFC 7009 revocation on A, of a refresh token or an access token, is refused on B within a second', async () => {
    const [a, b] = [c.instances[0]!, c.instances[1]!]
    for (const kind of ['refresh', 'access'] as const) {
      const s = await signup(a.base)
      expect((await me(b.base, s.accessToken)).status).toBe(200)
      const res = await fetch(`${a.base}/auth/oauth/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: kind === 'refresh' ? s.refreshToken : s.accessToken, client_id: 'web' }),
      })
      expect(res.status).toBe(200)
      const ms = await timeUntil(async () => (await me(b.base, s.accessToken)).json?.error === 'session_revoked', 1000)
      console.info(`[oauth] ${kind} token revoked on A, refused on B after ${ms} ms`)
    }
  })
})
