// Graceful shutdown on a real socket, in the two ways the app can be stopped:
// - drain() then close(), what src/server.ts does on SIGTERM: while requests in flight finish,
//   every new request, on a kept-alive connection or a new one, gets the catalogue's 503 with
//   Connection: close; then close() stops listening and closes the pool;
// - close() alone: idle kept-alive connections are closed unanswered at once, new connections
//   are refused, and a request already begun is still answered.
// Each request is placed deliberately (headers in but body not, headers half sent, a socket
// left idle) rather than timed, so every answer below is the only possible one.
import { once } from 'node:events'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../src/server/app.js'
import { testConfig } from '../helpers/app.js'
import { appConnectionsLeft, createTestDatabase } from '../helpers/database.js'

let db: { url: string; drop(): Promise<void> }
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(() => db.drop())

interface Answer {
  status: number | string
  body: string
  headers: http.IncomingHttpHeaders
  /** the request went out on a connection the agent had kept alive */
  reusedSocket: boolean
}

function request(port: number, method: string, path: string, body: unknown, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: agent ?? false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.on('data', (c) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode!, body: text, headers: res.headers, reusedSocket: req.reusedSocket }))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: err.code ?? 'error', body: '', headers: {}, reusedSocket: req.reusedSocket }))
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

/** A raw connection: everything the server writes on it, once it closes. */
async function rawConnection(port: number) {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let text = ''
  socket.on('data', (c) => (text += c))
  const closed = once(socket, 'close').then(() => text)
  return { socket, closed, received: () => text }
}

/**
 * A login whose headers the server has received and routed (it is in flight) but whose last
 * body byte is held back until `release()`.
 */
async function heldLogin(app: FastifyInstance, port: number, user: { email: string; password: string }) {
  const body = JSON.stringify(user)
  const conn = await rawConnection(port)
  const routed = once(app.server, 'request')
  conn.socket.write(
    `POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, -1)}`,
  )
  await routed
  return { release: () => conn.socket.write(body.slice(-1)), answer: conn.closed }
}

/** A request whose headers are half sent: its connection is busy, not idle, and not yet routed. */
async function partialRequest(port: number) {
  const conn = await rawConnection(port)
  conn.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n')
  return { finish: () => conn.socket.write('\r\n'), answer: conn.closed }
}

function expect503(status: number | string, headers: Record<string, unknown>, body: string) {
  expect(status).toBe(503)
  expect(headers.connection).toBe('close')
  expect(headers['retry-after']).toBe('1')
  expect(JSON.parse(body)).toEqual({ error: 'service_unavailable', error_description: expect.any(String) })
}

function parseRaw(raw: string) {
  const [head, body = ''] = raw.split('\r\n\r\n')
  const [statusLine, ...lines] = head!.split('\r\n')
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  return { status: Number(statusLine!.split(' ')[1]), headers, body }
}

async function startApp() {
  const app = await buildServer({ config: testConfig(), databaseUrl: db.url })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const user = { email: `drain-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`, password: 'correct horse battery' }
  expect((await request(port, 'POST', '/auth/register', user)).status).toBe(202)
  return { app, port, user }
}

function expectLoggedIn(raw: string) {
  const answer = parseRaw(raw)
  expect(answer.status, raw).toBe(200)
  expect(JSON.parse(answer.body).refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/)
}

// Postgres' view of the database: no connection of the app is left, pool or listener.
async function expectPoolClosed() {
  expect(await appConnectionsLeft(db.url)).toBe(0)
}

describe('drain() then close(), as on SIGTERM', () => {
  it('finishes the login in flight, answers every new request 503, then stops listening and closes the pool', async () => {
    const { app, port, user } = await startApp()
    const keptAlive = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      expect((await request(port, 'GET', '/health/live', undefined, keptAlive)).status).toBe(200)
      const partial = await partialRequest(port)
      const login = await heldLogin(app, port, user)

      const drained = app.drain()
      let drainedYet = false
      void drained.then(() => (drainedYet = true))

      // The kept-alive connection stays open during the drain, so a request on it is
      // answered, and the answer is 503 with Connection: close.
      const late = await request(port, 'GET', '/health/live', undefined, keptAlive)
      expect(late.reusedSocket).toBe(true)
      expect503(late.status, late.headers, late.body)
      // The socket still listens: a new connection gets the same 503, and nothing is processed.
      const fresh = await request(port, 'POST', '/auth/register', { email: `late-${Date.now()}@example.com`, password: 'correct horse battery' })
      expect(fresh.reusedSocket).toBe(false)
      expect503(fresh.status, fresh.headers, fresh.body)
      // Headers that were still arriving when the drain began are routed during it: the same.
      partial.finish()
      const routed = parseRaw(await partial.answer)
      expect503(routed.status, routed.headers, routed.body)

      // The login begun before the drain completes normally, database work and all, and
      // the drain ends with it, not before.
      await new Promise((r) => setTimeout(r, 50))
      expect(drainedYet).toBe(false)
      login.release()
      expectLoggedIn(await login.answer)
      await drained

      await app.close()
      expect((await request(port, 'GET', '/health/live', undefined)).status).toBe('ECONNREFUSED')
      await expectPoolClosed()
    } finally {
      keptAlive.destroy()
    }
  }, 30_000)
})

describe('close() alone', () => {
  it('closes idle connections unanswered, refuses new ones, and still answers requests already begun', async () => {
    const { app, port, user } = await startApp()
    // An idle kept-alive connection: one request answered, nothing since.
    const idle = await rawConnection(port)
    idle.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n')
    while (!idle.received().includes('{"status":"ok"}')) await new Promise((r) => setTimeout(r, 5))
    const answeredBefore = idle.received()
    const partial = await partialRequest(port)
    const login = await heldLogin(app, port, user)

    const closed = app.close()

    // The server closes the idle connection at once and writes nothing more on it.
    expect(await idle.closed).toBe(answeredBefore)
    // It did so as it stopped listening, so a new connection is now refused.
    expect((await request(port, 'GET', '/health/live', undefined)).status).toBe('ECONNREFUSED')
    // A request whose headers were still arriving was kept (its connection was not idle) and
    // is routed during the close: the catalogue's 503, not Fastify's body.
    partial.finish()
    const routed = parseRaw(await partial.answer)
    expect503(routed.status, routed.headers, routed.body)
    // The login already in flight completes normally.
    login.release()
    expectLoggedIn(await login.answer)

    await closed
    await expectPoolClosed()
  }, 30_000)
})
