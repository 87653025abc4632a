// examples/resource-server started as its README says (`node server.js` in its folder, on
// AUTH_URL, CLIENT_ID, CLIENT_SECRET, HOST and PORT), against two auth service processes
// (as npm start runs them) behind a counting proxy, as a load balancer would put them:
//
// - a logout on instance A is refused by the resource server within a second (the feed it
//   reads is served by B), and protected calls cost the auth service no request at all;
// - an unauthenticated subscriber is refused, and forged events in the stream change nothing;
// - with the auth service gone, valid tokens still pass and revoked ones still fail; a
//   revocation made while it was away reaches the resource server once it is back, under a
//   rotated signing key (JWT_PREVIOUS_JWKS) that it follows without a restart;
// - past MAX_STALENESS_SEC without news it answers 503 with Retry-After, never 401.
//
// Like test/examples/host-app.test.ts it runs on the example's own install; CI installs it.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac, generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, startServer, type ServerProcess } from '../../bench/lib/server.js'
import { basicAuthorization } from '../../src/oauth/clients.js'
import { SESSION_REVOKED } from '../../src/oauth/security-events.js'
import { adminQuery, createTestDatabase } from '../helpers/database.js'
import { get, post, signup, timeUntil } from '../helpers/instances.js'
import { startProxy, type CountingProxy } from '../helpers/proxy.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const EXAMPLE = join(ROOT, 'examples', 'resource-server')
const LINK = join(EXAMPLE, 'node_modules', 'fastify-auth-service')
const problem = !existsSync(LINK)
  ? 'examples/resource-server is not installed: run `npm install` there'
  : realpathSync(LINK) !== realpathSync(ROOT)
    ? 'examples/resource-server/node_modules/fastify-auth-service is not this checkout'
    : null
const required = process.env.REQUIRE_EXAMPLE_INSTALL === '1'
if (problem && !required) console.warn(`[examples/resource-server] skipped: ${problem}`)

const pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString()
const oldKey = generateKeyPairSync('ed25519').privateKey
const newKey = generateKeyPairSync('ed25519').privateKey
const SECRET = randomBytes(32).toString('base64url')
const CLIENT = 'orders-api'

interface Example {
  base: string
  child: ChildProcess
  output(): string
  stop(): Promise<void>
}

async function startExample(env: Record<string, string>): Promise<Example> {
  const port = await freePort()
  const child = spawn(process.execPath, ['server.js'], { cwd: EXAMPLE, env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const started = Date.now()
  while (!/Server listening at/.test(output)) {
    if (child.exitCode !== null) throw new Error(`the example exited with ${child.exitCode}:\n${output}`)
    if (Date.now() - started > 30_000) throw new Error(`the example did not listen:\n${output}`)
    await new Promise((r) => setTimeout(r, 25))
  }
  return {
    base: `http://127.0.0.1:${port}`,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const orders = (rs: Example, token: string) => get(rs.base, '/orders', bearer(token))
const b64u = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const jws = (header: object, payload: object, signer: (input: string) => Buffer) => {
  const input = `${b64u(header)}.${b64u(payload)}`
  return `${input}.${signer(input).toString('base64url')}`
}
const ed = (key: KeyObject) => (input: string) => sign(null, Buffer.from(input), key)

describe.skipIf(problem !== null && !required)('examples/resource-server beside two auth service processes', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let proxy: CountingProxy
  let a: ServerProcess
  let b: ServerProcess
  let rs: Example
  let strict: Example // the same example with a small staleness bound
  let issuer: string
  let authEnv: Record<string, string>
  let oldJwks: string

  beforeAll(async () => {
    if (problem) throw new Error(`${problem} (REQUIRE_EXAMPLE_INSTALL=1: CI installs the example before the suite)`)
    db = await createTestDatabase()
    const [portA, portB] = [await freePort(), await freePort()]
    // The resource server reaches the auth service through the proxy, which forwards to B:
    // logouts are made on A, so each one crosses instances.
    proxy = await startProxy(portB)
    issuer = `${proxy.base}/auth`
    authEnv = {
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      ISSUER: issuer,
      JWT_PRIVATE_KEY: pem(oldKey),
      JWT_KEY_ID: 'k-old',
      REFRESH_TOKEN_SECRET: SECRET,
      OAUTH_CLIENTS: JSON.stringify([{ client_id: CLIENT, client_secret: SECRET }]),
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      REVOCATION_FEED_HEARTBEAT_MS: '300',
      DEMO_PAGE: 'false',
      LOG_LEVEL: 'warn',
    }
    ;[a, b] = await Promise.all([startServer({ ...authEnv, PORT: String(portA) }), startServer({ ...authEnv, PORT: String(portB) })])
    oldJwks = JSON.stringify(await (await fetch(`${a.base}/auth/.well-known/jwks.json`)).json())
    const rsEnv = { AUTH_URL: issuer, CLIENT_ID: CLIENT, CLIENT_SECRET: SECRET }
    ;[rs, strict] = await Promise.all([startExample(rsEnv), startExample({ ...rsEnv, MAX_STALENESS_SEC: '2' })])
    // Ready once the first sync has arrived: until then valid tokens get 503.
    const s = await signup(a.base)
    await timeUntil(async () => (await orders(rs, s.accessToken)).status === 200 && (await orders(strict, s.accessToken)).status === 200, 10_000)
  }, 120_000)
  afterAll(async () => {
    await Promise.all([rs?.stop(), strict?.stop(), a?.stop(), b?.stop()])
    await proxy?.close()
    await db?.drop()
  })

  it('serves GET /orders to a valid token, with the token\'s claims, and refuses none or a bad one with a Bearer challenge', async () => {
    const s = await signup(a.base)
    const ok = await orders(rs, s.accessToken)
    expect(ok.status).toBe(200)
    expect(ok.json).toMatchObject({ owner: JSON.parse(Buffer.from(s.accessToken.split('.')[1]!, 'base64url').toString()).sub, client: 'web' })
    const none = await fetch(`${rs.base}/orders`)
    expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, 'Bearer'])
    const bad = await fetch(`${rs.base}/orders`, { headers: bearer(`${s.accessToken.slice(0, -4)}AAAA`) })
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
  })

  it('makes no request to the auth service per protected call', async () => {
    const s = await signup(a.base)
    await orders(rs, s.accessToken)
    const before = proxy.total()
    for (let i = 0; i < 50; i++) expect((await orders(rs, s.accessToken)).status).toBe(200)
    expect(proxy.total() - before).toBe(0)
    console.info(`[resource-server] 50 protected calls, ${proxy.total() - before} requests to the auth service; all so far: ${JSON.stringify(Object.fromEntries(proxy.counts))}`)
  })

  it('a logout on auth instance A is answered 401 by the resource server within a second', async () => {
    const s = await signup(a.base)
    expect((await orders(rs, s.accessToken)).status).toBe(200)
    const started = Date.now()
    expect((await post(a.base, '/auth/logout', undefined, bearer(s.accessToken))).status).toBe(204)
    const ms = await timeUntil(async () => (await orders(rs, s.accessToken)).json?.code === 'session_revoked', 1000)
    console.info(`[resource-server] logout on A -> 401 on the resource server after ${Date.now() - started} ms (polled ${ms} ms)`)
  })

  it('refuses a token living longer than the auth service issues them, even signed with its key', async () => {
    const s = await signup(a.base)
    const claims = JSON.parse(Buffer.from(s.accessToken.split('.')[1]!, 'base64url').toString())
    const now = Math.floor(Date.now() / 1000)
    const forged = jws({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-old' }, { ...claims, iat: now, exp: now + 900 + 60, jti: randomUUID() }, ed(oldKey))
    const control = jws({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-old' }, { ...claims, iat: now, exp: now + 900, jti: randomUUID() }, ed(oldKey))
    expect((await orders(rs, control)).status).toBe(200)
    expect((await orders(rs, forged)).json.code).toBe('invalid_token')
  })

  it('the feed refuses an unauthenticated subscriber and a wrong secret', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: basicAuthorization(CLIENT, 'wrong') }, { authorization: basicAuthorization('web', SECRET) }]) {
      const res = await fetch(`${issuer}/oauth/revocation-feed`, { headers })
      expect(res.status).toBe(401)
      await res.body?.cancel()
    }
  })

  it('forged events in the stream are refused and logged; a genuine one, the control, is taken', async () => {
    const s = await signup(a.base)
    const sid = JSON.parse(Buffer.from(s.accessToken.split('.')[1]!, 'base64url').toString()).sid as string
    const now = Math.floor(Date.now() / 1000)
    const claims = (over: Record<string, unknown> = {}) => ({
      iss: issuer,
      aud: CLIENT,
      iat: now,
      jti: randomUUID(),
      sub_id: { format: 'opaque', id: sid },
      events: { [SESSION_REVOKED]: { event_timestamp: now, initiating_entity: 'admin', reason_admin: { en: 'admin' } } },
      ...over,
    })
    const head = { alg: 'EdDSA', typ: 'secevent+jwt', kid: 'k-old' }
    const attacker = generateKeyPairSync('ed25519').privateKey
    const publicJwkX = (JSON.parse(oldJwks).keys[0] as { x: string }).x
    const forged = [
      jws(head, claims(), ed(attacker)), // another key under our kid
      jws({ ...head, kid: 'k-attacker' }, claims(), ed(attacker)), // an unknown kid
      jws(head, claims({ iss: 'https://evil.example/auth' }), ed(oldKey)), // wrong issuer, real key
      jws(head, claims({ aud: 'another-service' }), ed(oldKey)), // someone else's event
      jws({ ...head, typ: 'JWT' }, claims(), ed(oldKey)), // not a SET
      `${b64u({ ...head, alg: 'none' })}.${b64u(claims())}.`, // unsigned
      jws({ ...head, alg: 'HS256' }, claims(), (input) => createHmac('sha256', publicJwkX).update(input).digest()), // the public key as an HMAC secret
      jws(head, claims({ sub_id: { format: 'email', email: 'x@example.com' } }), ed(oldKey)), // not a session
    ]
    const refusedBefore = (rs.output().match(/refused a revocation feed event/g) ?? []).length
    expect(proxy.inject(forged.map((set) => `event: set\ndata: ${set}\n\n`).join(''))).toBeGreaterThanOrEqual(2)
    await timeUntil(async () => (rs.output().match(/refused a revocation feed event/g) ?? []).length >= refusedBefore + forged.length, 3000)
    expect((await orders(rs, s.accessToken)).status).toBe(200)

    // The same event, signed with the real key: the session is refused (the forgeries above were refused for their faults).
    proxy.inject(`event: set\ndata: ${jws(head, claims(), ed(oldKey))}\n\n`)
    await timeUntil(async () => (await orders(rs, s.accessToken)).json?.code === 'session_revoked', 1000)
  })

  it('with the auth service gone: valid tokens pass and revoked ones fail; past MAX_STALENESS_SEC the strict one answers 503 with Retry-After', async () => {
    const live = await signup(a.base)
    const revoked = await signup(a.base)
    await post(a.base, '/auth/logout', undefined, bearer(revoked.accessToken))
    await timeUntil(async () => (await orders(rs, revoked.accessToken)).status === 401, 1000)
    await Promise.all([a.stop(), b.stop()])
    expect((await fetch(`${issuer}/.well-known/jwks.json`)).status).toBe(502)
    expect((await orders(rs, live.accessToken)).status).toBe(200)
    expect((await orders(rs, revoked.accessToken)).json.code).toBe('session_revoked')
    // The strict one (2 s) gives up on valid tokens, and says "retry", not "log in again".
    await timeUntil(async () => (await orders(strict, live.accessToken)).status === 503, 5000)
    const stale = await fetch(`${strict.base}/orders`, { headers: bearer(live.accessToken) })
    expect(stale.status).toBe(503)
    expect(Number(stale.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await orders(rs, live.accessToken)).status).toBe(200)

    // While it is away, an operator revokes a session in the database (npm run revoke does this).
    const sid = JSON.parse(Buffer.from(live.accessToken.split('.')[1]!, 'base64url').toString()).sid as string
    await adminQuery(`UPDATE auth.token_families SET revoked_at = clock_timestamp(), revoked_reason = 'admin' WHERE id = $1`, [sid], db.url)
    expect((await orders(rs, live.accessToken)).status).toBe(200)

    // Back, on a new port, with the signing key rotated and the old one retired.
    const port = await freePort()
    a = await startServer({ ...authEnv, PORT: String(port), JWT_PRIVATE_KEY: pem(newKey), JWT_KEY_ID: 'k-new', JWT_PREVIOUS_JWKS: oldJwks })
    proxy.setUpstream(port)
    // The subscriber reconnects with its cursor and is replayed what it missed.
    const ms = await timeUntil(async () => (await orders(rs, live.accessToken)).json?.code === 'session_revoked', 10_000)
    console.info(`[resource-server] revocation made while the auth service was down refused ${ms} ms after it came back`)
    await timeUntil(async () => (await orders(strict, (await signup(a.base)).accessToken)).status === 200, 10_000)
  }, 60_000)

  it('follows the key rotation without a restart: tokens of the new key pass, and of the retired one until they expire', async () => {
    const fresh = await signup(a.base)
    expect(JSON.parse(Buffer.from(fresh.accessToken.split('.')[0]!, 'base64url').toString()).kid).toBe('k-new')
    expect((await orders(rs, fresh.accessToken)).status).toBe(200)
    const claims = JSON.parse(Buffer.from(fresh.accessToken.split('.')[1]!, 'base64url').toString())
    const retired = jws({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-old' }, { ...claims, jti: randomUUID() }, ed(oldKey))
    expect((await orders(rs, retired)).status).toBe(200)
    // and a logout after the restart reaches it as before
    await post(a.base, '/auth/logout', undefined, bearer(fresh.accessToken))
    await timeUntil(async () => (await orders(rs, fresh.accessToken)).status === 401, 1000)
  })
})
