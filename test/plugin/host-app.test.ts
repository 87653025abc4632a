// The plugin as a team adopts it: a plain Fastify() app of their own, with their own routes,
// hooks and decorators (and the plugins that commonly bring them), registers it under a prefix.
// Everything here would pass in the host's repository.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import auth, { AuthOptionsError, migrate, trustProxyHops, type AuthPluginOptions } from '../../src/index.js'
import { resolveAuthOptions } from '../../src/options.js'
import { createTestDatabase } from '../helpers/database.js'
import { timeUntil } from '../helpers/instances.js'

const keys = (): AuthPluginOptions['keys'] => ({
  signing: { kid: 'host-test', privateKey: SIGNING_KEY },
  refreshTokenSecret: REFRESH_SECRET,
})
const SIGNING_KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const REFRESH_SECRET = randomBytes(32)
const CHEAP = { memoryKiB: 1024, timeCost: 1 }
const PASSWORD = 'correct horse battery'

interface Host {
  app: FastifyInstance
  base: string
  pool: pg.Pool
  /** statements the host's pool carried, whoever sent them */
  statements(): number
  hookCalls: string[]
}

/** A host app: its own pool, decorators, hooks, @fastify/jwt and notes routes; then our plugin. */
async function hostApp(databaseUrl: string, authOptions: Partial<AuthPluginOptions> = {}, mount: 'root' | 'nested' = 'root'): Promise<Host> {
  let statements = 0
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 })
  // As any app with a pool has: a connection the server drops (here, the test database going
  // away at the end) is not a crash.
  pool.on('error', () => {})
  const query = pool.query.bind(pool)
  pool.query = ((...args: Parameters<typeof pool.query>) => {
    statements++
    return query(...args)
  }) as typeof pool.query
  pool.on('connect', (client) => {
    const q = client.query.bind(client)
    client.query = ((...args: Parameters<typeof client.query>) => {
      statements++
      return q(...args)
    }) as typeof client.query
  })

  const app = Fastify()
  const hookCalls: string[] = []
  // What common plugins would have decorated: @fastify/env, @fastify/postgres, @fastify/jwt.
  app.decorate('config', { PORT: 1234 })
  app.decorate('pg', { pool })
  await app.register(fastifyJwt, { secret: 'the host app signs its own tokens with this secret' })
  app.addHook('onRequest', async (request) => {
    hookCalls.push(request.url)
  })

  const options: AuthPluginOptions = { production: false, database: pool, keys: keys(), passwords: CHEAP, ...authOptions }
  const notes: { owner: string; text: string }[] = []
  // The host's own routes, protected by the plugin, in the context that registered it.
  const noteRoutes = (scope: FastifyInstance) => {
    scope.get('/notes', { preHandler: scope.authn.authenticate }, async (request) => ({ notes: notes.filter((n) => n.owner === request.authn!.sub) }))
    scope.post<{ Body: { text: string } }>('/notes', { preHandler: scope.authn.authenticate }, async (request, reply) => {
      notes.push({ owner: request.authn!.sub, text: request.body.text })
      return reply.code(201).send({ ok: true })
    })
  }
  if (mount === 'root') {
    await app.register(auth, { prefix: '/api/auth', ...options })
    noteRoutes(app)
  } else {
    // Registered inside the host's own /api context: routes, decorator and cookie path follow it.
    await app.register(
      async (api) => {
        await api.register(auth, { prefix: '/auth', ...options })
        noteRoutes(api)
      },
      { prefix: '/api' },
    )
  }
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, pool, statements: () => statements, hookCalls }
}

async function call(base: string, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null }
}

async function signup(base: string, prefix = '/api/auth') {
  const email = `host-${randomBytes(4).toString('hex')}@example.com`
  expect((await call(base, 'POST', `${prefix}/register`, { body: { email, password: PASSWORD } })).status).toBe(202)
  const login = await call(base, 'POST', `${prefix}/login`, { body: { email, password: PASSWORD } })
  expect(login.status).toBe(200)
  return { email, access: login.json.access_token as string, refresh: login.json.refresh_token as string }
}

describe('two instances of a host app on one database, the plugin on the host pool', () => {
  let db: { url: string; drop(): Promise<void> }
  let a: Host
  let b: Host
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false })
    // The host's deploy step migrates, with the same pool it serves from.
    const setup = new pg.Pool({ connectionString: db.url, max: 1 })
    await migrate(setup)
    await setup.end()
    a = await hostApp(db.url, { denylist: { syncIntervalMs: 60_000 } })
    b = await hostApp(db.url, { denylist: { syncIntervalMs: 60_000 } })
  })
  afterAll(async () => {
    for (const h of [a, b]) {
      await h.app.close()
      // the plugin never closes a pool it was lent
      expect(await h.pool.query('SELECT 1 AS ok')).toMatchObject({ rows: [{ ok: 1 }] })
      await h.pool.end()
    }
    await db.drop()
  })

  it("the host's route answers with the token's claims, and its own routes are the host's", async () => {
    const s = await signup(a.base)
    expect((await call(b.base, 'POST', '/notes', { body: { text: 'hi' }, headers: { authorization: `Bearer ${s.access}` } })).status).toBe(201)
    const notes = await call(b.base, 'GET', '/notes', { headers: { authorization: `Bearer ${s.access}` } })
    expect(notes).toMatchObject({ status: 200, json: { notes: [{ text: 'hi' }] } })
    const anonymous = await call(b.base, 'GET', '/notes')
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer')
  })

  it('logout on A: the host route on B answers 401 within a second, by notification alone', async () => {
    const s = await signup(a.base)
    expect((await call(b.base, 'GET', '/notes', { headers: { authorization: `Bearer ${s.access}` } })).status).toBe(200)
    expect((await call(a.base, 'POST', '/api/auth/logout', { body: { refresh_token: s.refresh } })).status).toBe(204)
    const ms = await timeUntil(async () => (await call(b.base, 'GET', '/notes', { headers: { authorization: `Bearer ${s.access}` } })).status === 401, 1000)
    expect(ms).toBeLessThan(1000)
    const refused = await call(b.base, 'GET', '/notes', { headers: { authorization: `Bearer ${s.access}` } })
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
  })

  it('the protected host route makes no database query at all', async () => {
    const s = await signup(a.base)
    const before = b.statements()
    for (let i = 0; i < 30; i++) expect((await call(b.base, 'GET', '/notes', { headers: { authorization: `Bearer ${s.access}` } })).status).toBe(200)
    expect(b.statements()).toBe(before)
  })

  it("the host's decorators and hooks are its own; the plugin adds one decorator and leaves the host's routes alone", async () => {
    const app = a.app as unknown as { config: unknown; pg: { pool: pg.Pool }; jwt: { sign(p: object): string; verify(t: string): { who: string } } }
    expect(app.config).toEqual({ PORT: 1234 })
    expect(app.pg.pool).toBe(a.pool)
    // the host's own @fastify/jwt, with its own secret, still signs and verifies
    expect(app.jwt.verify(app.jwt.sign({ who: 'host' })).who).toBe('host')
    // the host's hook sees every request, its own and the plugin's
    a.hookCalls.length = 0
    await call(a.base, 'GET', '/notes')
    await call(a.base, 'GET', '/api/auth/.well-known/jwks.json')
    expect(a.hookCalls).toEqual(['/notes', '/api/auth/.well-known/jwks.json'])
    // the plugin's security headers and error shape stop at its prefix
    const hostNotFound = await call(a.base, 'GET', '/nothing-here')
    expect(hostNotFound.json).toMatchObject({ statusCode: 404, error: 'Not Found' }) // Fastify's, not ours
    expect(hostNotFound.headers.get('cache-control')).toBeNull()
    const ourNotFound = await call(a.base, 'GET', '/api/auth/nothing-here')
    expect(ourNotFound.json).toEqual({ error: 'not_found', error_description: expect.any(String) })
    expect(ourNotFound.headers.get('cache-control')).toBe('no-store')
    expect(ourNotFound.headers.get('x-content-type-options')).toBe('nosniff')
    // and its routes are where the prefix says, nowhere else
    expect((await call(a.base, 'POST', '/auth/login', { body: { email: 'x@example.com', password: PASSWORD } })).status).toBe(404)
  })

  it('serves its OpenAPI document under the prefix', async () => {
    const doc = await call(a.base, 'GET', '/api/auth/openapi.json')
    expect(doc.status).toBe(200)
    expect(Object.keys(doc.json.paths)).toEqual(expect.arrayContaining(['/api/auth/login', '/api/auth/refresh', '/api/auth/sessions/{id}', '/api/auth/me']))
    expect(Object.keys(doc.json.paths).every((p: string) => p.startsWith('/api/auth/'))).toBe(true)
  })
})

describe('cookies and CSRF under /api/auth', () => {
  let db: { url: string; drop(): Promise<void> }
  let hosts: Host[] = []
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(async () => {
    for (const h of hosts) {
      await h.app.close()
      await h.pool.end()
    }
    await db.drop()
  })

  for (const mount of ['root', 'nested'] as const) {
    it(`${mount === 'root' ? "prefix: '/api/auth'" : "prefix: '/auth' inside the host's /api context"}: the refresh cookie's path follows, and the browser flow works end to end`, async () => {
      const h = await hostApp(db.url, {}, mount)
      hosts.push(h)
      const email = `web-${randomBytes(4).toString('hex')}@example.com`
      const web = { 'x-auth-transport': 'cookie', origin: h.base }
      expect((await call(h.base, 'POST', '/api/auth/register', { body: { email, password: PASSWORD } })).status).toBe(202)
      const login = await fetch(`${h.base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...web }, body: JSON.stringify({ email, password: PASSWORD }) })
      expect(login.status).toBe(200)
      expect(await login.json()).toEqual({ token_type: 'Bearer', expires_in: 900 })
      const setCookies = login.headers.getSetCookie()
      const refreshCookie = setCookies.find((c) => c.startsWith('refresh_token='))!
      expect(refreshCookie).toMatch(/; Path=\/api\/auth(;|$)/)
      expect(refreshCookie).toMatch(/HttpOnly/)
      const jar = setCookies.map((c) => c.split(';')[0]).join('; ')

      // the host's own route, by the access cookie: a read needs nothing more
      const notes = mount === 'root' ? '/notes' : '/api/notes'
      expect((await call(h.base, 'GET', notes, { headers: { cookie: jar } })).status).toBe(200)
      // a write by cookie must prove it comes from our pages, on the host's route too
      const forged = await call(h.base, 'POST', notes, { body: { text: 'x' }, headers: { cookie: jar, origin: 'https://evil.example' } })
      expect([forged.status, forged.json?.code ?? forged.json?.error]).toEqual([403, 'csrf_rejected'])
      expect((await call(h.base, 'POST', notes, { body: { text: 'x' }, headers: { cookie: jar, ...web } })).status).toBe(201)

      // refresh by cookie at the prefix; a cross-site one is refused
      const crossSite = await call(h.base, 'POST', '/api/auth/refresh', { headers: { cookie: jar, 'x-auth-transport': 'cookie', origin: 'https://evil.example' } })
      expect([crossSite.status, crossSite.json.error]).toEqual([403, 'csrf_rejected'])
      const refreshed = await call(h.base, 'POST', '/api/auth/refresh', { headers: { cookie: jar, ...web } })
      expect(refreshed.status).toBe(200)
      // logout by cookie clears both, on the same path
      const out = await fetch(`${h.base}/api/auth/logout`, { method: 'POST', headers: { cookie: jar, ...web } })
      expect(out.status).toBe(204)
      expect(out.headers.getSetCookie().find((c) => c.startsWith('refresh_token='))).toMatch(/; Path=\/api\/auth(;|$)/)
    })
  }
})

describe('options are checked at register, named in the error', () => {
  const register = async (options: Record<string, unknown>) => {
    const app = Fastify()
    try {
      await app.register(auth, options as unknown as AuthPluginOptions)
      await app.ready()
      return null
    } catch (err) {
      return err
    } finally {
      await app.close()
    }
  }
  const problemsOf = async (options: Record<string, unknown>) => {
    const err = await register(options)
    expect(err).toBeInstanceOf(AuthOptionsError)
    return (err as AuthOptionsError).problems.map((p) => p.option)
  }

  it('refuses missing keys and database, a bad prefix, and numbers out of range, all at once', async () => {
    expect(await problemsOf({ prefix: 'auth/' })).toEqual(expect.arrayContaining(['prefix', 'database', 'keys']))
    expect(
      await problemsOf({ production: false, database: 'postgresql://x@127.0.0.1/db', keys: keys(), tokens: { accessTtlSec: 5 }, limits: { lockout: { maxSec: 10, resetSec: 5 } } }),
    ).toEqual(['tokens.accessTtlSec', 'limits.lockout.resetSec'])
  })

  it('production (the default) refuses a weak secret, argon2 below OWASP and cookies without Secure', async () => {
    const problems = await problemsOf({
      database: 'postgresql://x@127.0.0.1/db',
      keys: { signing: { kid: 'k', privateKey: SIGNING_KEY }, refreshTokenSecret: 'changeme' },
      passwords: CHEAP,
      cookies: { secure: false },
    })
    expect(problems).toEqual(expect.arrayContaining(['keys.refreshTokenSecret', 'passwords.memoryKiB', 'passwords.timeCost', 'cookies.secure']))
  })

  it('mail: required in production, never the log there; templates, links and the verification setting checked, named', async () => {
    const base = { database: 'postgresql://x@127.0.0.1/db', keys: { signing: { kid: 'k', privateKey: SIGNING_KEY }, refreshTokenSecret: REFRESH_SECRET }, mfa: { encryptionKey: randomBytes(32) }, tokens: { issuer: 'https://api.example.com/auth' } }
    expect(await problemsOf(base)).toEqual(['mail'])
    expect(await problemsOf({ ...base, mail: { transport: 'log', from: 'a@example.com' } })).toEqual(['mail.transport'])
    expect(await problemsOf({ ...base, mail: { transport: 'smtp://h:25' } })).toEqual(['mail.from'])
    expect(await problemsOf({ ...base, mail: { transport: 'http://h', from: 'a@example.com' } })).toEqual(['mail.transport'])
    const good = { ...base, mail: { transport: 'smtps://u:p@h:465', from: 'Example <a@example.com>' } }
    expect(await problemsOf({ ...good, mail: { ...good.mail, templates: { reset_pasword: () => ({}), verify_email: 'Hi' } } })).toEqual([
      'mail.templates.reset_pasword',
      'mail.templates.verify_email',
    ])
    expect(await problemsOf({ ...good, links: { resetPassword: 'http://app.example.com/reset', verifyEmail: 'https://app.example.com/v#x', other: 'https://x' } })).toEqual([
      'links.resetPassword',
      'links.verifyEmail',
      'links.other',
    ])
    expect(await problemsOf({ ...good, emailVerification: { enabled: false, required: true } })).toEqual(['emailVerification.required'])
    // Outside production, no mail option means the development log transport.
    expect(resolveAuthOptions({ ...base, production: false } as AuthPluginOptions).mail).toMatchObject({ transport: 'log', from: 'no-reply@localhost' })
  })

  // The host's trustProxy decides request.ip, which every per-IP limit and the login lock key on.
  it("production refuses a host whose trustProxy is true, saying what to use instead", async () => {
    const production = {
      database: 'postgresql://x@127.0.0.1/db',
      keys: { signing: { kid: 'k', privateKey: SIGNING_KEY }, refreshTokenSecret: REFRESH_SECRET },
      mail: { transport: 'smtps://u:p@h:465', from: 'Example <a@example.com>' },
      mfa: { encryptionKey: randomBytes(32) },
      tokens: { issuer: 'https://api.example.com/auth' },
    }
    const app = Fastify({ trustProxy: true })
    const err = await app.register(auth, production as AuthPluginOptions).ready().then(() => null, (e: Error) => e)
    await app.close()
    expect(err?.message).toMatch(/trustProxy is true/)
    expect(err?.message).toMatch(/trustProxyHops\(1\)/)
  })

  it('trustProxyHops(1): the address one load balancer appended is the client, whatever the client wrote before it', async () => {
    const app = Fastify({ trustProxy: trustProxyHops(1) })
    app.get('/ip', async (request) => ({ ip: request.ip }))
    const res = await app.inject({ url: '/ip', remoteAddress: '10.0.0.7', headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.9' } })
    expect(res.json().ip).toBe('203.0.113.9')
    expect(() => trustProxyHops(0)).toThrow(TypeError)
    await app.close()
  })

  it('second factors and passkeys: the MFA key required and strong in production; the RP ID and origins checked, named', async () => {
    const base = {
      database: 'postgresql://x@127.0.0.1/db',
      keys: { signing: { kid: 'k', privateKey: SIGNING_KEY }, refreshTokenSecret: REFRESH_SECRET },
      mail: { transport: 'smtps://u:p@h:465', from: 'Example <a@example.com>' },
      tokens: { issuer: 'https://api.example.com/auth' },
    }
    expect(await problemsOf(base)).toEqual(['mfa.encryptionKey'])
    expect(await problemsOf({ ...base, mfa: { encryptionKey: 'changeme-changeme-changeme-changeme' } })).toEqual(['mfa.encryptionKey'])
    const good = { ...base, mfa: { encryptionKey: randomBytes(32).toString('base64url') } }
    expect(await problemsOf({ ...good, webauthn: { rpId: 'https://example.com', origins: ['https://example.com'] } })).toEqual(['webauthn.rpId'])
    // production: https only; every origin on the RP ID or under it
    expect(
      await problemsOf({ ...good, webauthn: { rpId: 'example.com', origins: ['https://app.example.com', 'http://localhost:3000', 'https://example.org', 'https://example.com/path'] } }),
    ).toEqual(['webauthn.origins', 'webauthn.origins', 'webauthn.origins'])
    expect(await problemsOf({ ...good, webauthn: { rpId: 'example.com', origins: [] } })).toEqual(['webauthn.origins'])
    const settings = resolveAuthOptions({ ...good, webauthn: { rpId: 'example.com', origins: ['https://app.example.com'] } } as AuthPluginOptions)
    expect(settings.webauthn).toEqual({ rpId: 'example.com', rpName: 'fastify-auth-service', origins: ['https://app.example.com'] })
    // Outside production: http://localhost is a secure context, and the MFA key may be derived.
    const dev = resolveAuthOptions({ ...base, production: false, webauthn: { rpId: 'localhost', origins: ['http://localhost:3000'] } } as AuthPluginOptions)
    expect(dev.webauthn?.origins).toEqual(['http://localhost:3000'])
    expect(dev.mfa.encryptionKey).toHaveLength(32)
    expect(dev.mfa.encryptionKey.equals(dev.mfa.recoveryCodeKey)).toBe(false)
  })

  it('refuses an RSA key, and an HS256 secret that is a public key', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    expect(await problemsOf({ production: false, database: 'postgresql://x@h/d', keys: { signing: { kid: 'k', privateKey: rsa.privateKey }, refreshTokenSecret: REFRESH_SECRET } })).toEqual(['keys.signing'])
    const publicPem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect(await problemsOf({ production: false, database: 'postgresql://x@h/d', keys: { signing: { kid: 'k', algorithm: 'HS256', secret: publicPem }, refreshTokenSecret: REFRESH_SECRET } })).toEqual(['keys.signing'])
  })
})
