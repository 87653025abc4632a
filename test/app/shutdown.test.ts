// Graceful shutdown on a real socket: close() lets a request already in flight finish with
// 200, refuses new connections, answers a request routed during the drain with a
// catalogue-shaped 503, and closes the pool last.
import { once } from 'node:events'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { testConfig } from '../helpers/app.js'
import { createTestDatabase } from '../helpers/database.js'

let db: { url: string; drop(): Promise<void> }
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(() => db.drop())

interface Answer {
  status: number | string
  body: string
  headers: http.IncomingHttpHeaders
}

function request(port: number, method: string, path: string, body: unknown, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.on('data', (c) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode!, body: text, headers: res.headers }))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: err.code ?? 'error', body: '', headers: {} }))
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

it('drains an in-flight login, refuses new work, then closes the pool', async () => {
  // A costly argon2 keeps the login in flight long enough to close under it.
  const config = testConfig({ ARGON2_MEMORY_KIB: '65536', ARGON2_TIME_COST: '4' })
  const app = await buildApp({ config, databaseUrl: db.url })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const user = { email: `drain-${Date.now()}@example.com`, password: 'correct horse battery' }
  expect((await request(port, 'POST', '/auth/register', user)).status).toBe(201)

  const keptAlive = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const inFlightAgent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  try {
    // Both connections are open before close() begins.
    expect((await request(port, 'GET', '/health/live', undefined, keptAlive)).status).toBe(200)
    expect((await request(port, 'GET', '/health/live', undefined, inFlightAgent)).status).toBe(200)
    const partial = net.connect(port, '127.0.0.1')
    await once(partial, 'connect')
    let partialText = ''
    partial.on('data', (c) => (partialText += c))
    const partialAnswer = once(partial, 'close').then(() => partialText)
    partial.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n')
    const started = Date.now()
    const login = request(port, 'POST', '/auth/login', user, inFlightAgent)
    await new Promise((r) => setTimeout(r, 40))
    const closed = app.close()

    // A new connection is refused; a request on a kept-alive one is turned away with 503.
    const fresh = await request(port, 'GET', '/health/live', undefined)
    expect(['ECONNREFUSED', 'ECONNRESET']).toContain(fresh.status)
    const late = await request(port, 'GET', '/health/live', undefined, keptAlive)
    if (late.status === 503) {
      expect(JSON.parse(late.body)).toEqual({ error: 'service_unavailable', error_description: expect.any(String) })
      expect(late.headers.connection).toBe('close')
    } else {
      expect(['ECONNRESET', 'EPIPE']).toContain(late.status) // the idle connection was reaped first
    }

    // A request whose headers were still arriving when close began (its connection was not
    // idle, so it was kept) is routed during the drain: the catalogue's 503, not Fastify's body.
    partial.write('\r\n')
    const routed = await partialAnswer
    expect(routed).toMatch(/^HTTP\/1\.1 503 /)
    expect(routed).toMatch(/\r\nconnection: close\r\n/i)
    expect(routed).toMatch(/\r\nretry-after: 1\r\n/i)
    expect(JSON.parse(routed.slice(routed.indexOf('\r\n\r\n') + 4))).toEqual({ error: 'service_unavailable', error_description: expect.any(String) })

    // The login that was in flight completes normally, database work and all.
    const answer = await login
    expect(answer.status, answer.body).toBe(200)
    expect(JSON.parse(answer.body).refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Date.now() - started).toBeGreaterThan(40)

    await closed
    expect(app.db.pool.totalCount).toBe(0)
    expect((app.db.pool as unknown as { ending: boolean }).ending).toBe(true)
  } finally {
    keptAlive.destroy()
    inFlightAgent.destroy()
  }
}, 30_000)
