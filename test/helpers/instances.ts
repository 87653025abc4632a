// Real HTTP servers on real sockets, several sharing one database, as behind a load balancer.
import type { AddressInfo } from 'node:net'
import { buildServer } from '../../src/server/app.js'
import type { Config } from '../../src/server/config.js'
import type { FastifyInstance } from 'fastify'
import { createTestDatabase } from './database.js'
import { testConfig } from './app.js'

export interface Instance {
  app: FastifyInstance
  base: string
}

export interface Cluster {
  instances: Instance[]
  config: Config
  databaseUrl: string
  close(): Promise<void>
}

export async function startCluster(n: number, env: Record<string, string> = {}): Promise<Cluster> {
  const db = await createTestDatabase()
  const config = testConfig(env) // one config: every instance shares keys and secrets
  const instances: Instance[] = []
  for (let i = 0; i < n; i++) {
    const app = await buildServer({ config, databaseUrl: db.url })
    await app.listen({ host: '127.0.0.1', port: 0 })
    instances.push({ app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` })
  }
  return {
    instances,
    config,
    databaseUrl: db.url,
    async close() {
      await Promise.all(instances.map((i) => i.app.close()))
      await db.drop()
    },
  }
}

export async function post(base: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers }
}

export async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, { headers })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : null }
}

/** GET /auth/me with a Bearer access token */
export const me = (base: string, accessToken: string) => get(base, '/auth/me', { authorization: `Bearer ${accessToken}` })

/** ms until `check` is true, polling every 10 ms; throws after `limitMs` */
export async function timeUntil(check: () => Promise<boolean>, limitMs: number): Promise<number> {
  const started = Date.now()
  while (Date.now() - started <= limitMs) {
    if (await check()) return Date.now() - started
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`not true within ${limitMs} ms`)
}

export async function signup(base: string, i = Math.random().toString(36).slice(2)) {
  const email = `u-${i}-${Date.now()}@example.com`
  const password = 'correct horse battery'
  const reg = await post(base, '/auth/register', { email, password })
  if (reg.status !== 201 && reg.status !== 202) throw new Error(`register ${reg.status}`)
  const login = await post(base, '/auth/login', { email, password })
  if (login.status !== 200) throw new Error(`login ${login.status}`)
  return {
    email,
    password,
    accessToken: login.json.access_token as string,
    refreshToken: login.json.refresh_token as string,
    sid: JSON.parse(Buffer.from((login.json.access_token as string).split('.')[1]!, 'base64url').toString()).sid as string,
  }
}
