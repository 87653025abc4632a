// SIGTERM to the real server process: requests already in flight finish, new ones get 503
// while they do, then the socket and the connection pool are closed and the process exits 0.
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { benchSecrets, startServer } from '../../bench/lib/server.js'
import { appConnections, appConnectionsLeft, createTestDatabase } from '../helpers/database.js'

let db: { url: string; drop(): Promise<void> }
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(() => db.drop())

/** status code, or the socket error code when the connection was refused or reset */
function request(base: string, method: string, path: string, body: unknown, agent?: http.Agent): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.request(`${base}${path}`, { method, agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

describe('SIGTERM', () => {
  it('drains in-flight logins, refuses new work, closes the pool and exits 0', async () => {
    // Production argon2 parameters make each login slow enough to be caught in flight.
    const server = await startServer({ DATABASE_URL: db.url, ...benchSecrets() })
    // One account per in-flight login: eight simultaneous logins of one account from one address
    // would meet its failed-login counter, which counts attempts in flight (src/limits/policy.ts).
    const password = 'correct horse battery'
    const emails = Array.from({ length: 8 }, (_, i) => `term-${i}-${Date.now()}@example.com`)
    for (const email of emails) expect(await request(server.base, 'POST', '/auth/register', { email, password })).toBe(201)
    expect(await appConnections(db.url)).toBeGreaterThan(0)

    // Open the connections first, so the logins below reach the server the moment they are
    // sent instead of waiting in its accept queue (those would be "new work").
    const agents = Array.from({ length: 8 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }))
    await Promise.all(agents.map((a) => request(server.base, 'GET', '/auth/.well-known/jwks.json', undefined, a)))

    // One login is held in flight for as long as the test likes: its headers are in, the
    // last byte of its body is not.
    const body = JSON.stringify({ email: emails[0], password })
    const held = net.connect(Number(new URL(server.base).port), '127.0.0.1')
    await once(held, 'connect')
    let heldAnswer = ''
    held.on('data', (c) => (heldAnswer += c))
    held.write(`POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, -1)}`)

    const inFlight = agents.slice(1).map((a, i) => request(server.base, 'POST', '/auth/login', { email: emails[i + 1], password }, a))
    await new Promise((r) => setTimeout(r, 30))
    const exited = once(server.child, 'exit')
    server.child.kill('SIGTERM')

    // New work while the server drains: 503 on a new connection (the socket stays open until
    // the in-flight requests are done), and nothing is processed.
    let late: number | string = 200
    for (let i = 0; i < 100 && late === 200; i++) {
      late = await request(server.base, 'GET', '/auth/.well-known/jwks.json', undefined)
      if (late === 200) await new Promise((r) => setTimeout(r, 10))
    }
    expect(late).toBe(503)
    expect(await request(server.base, 'POST', '/auth/register', { email: `late-${Date.now()}@example.com`, password })).toBe(503)

    // Every request the server had begun is answered; none is cut off.
    const statuses = await Promise.all(inFlight)
    console.info(`[sigterm] in-flight answers: ${JSON.stringify(statuses)}`)
    expect(statuses.every((s) => s === 200 || s === 503), JSON.stringify(statuses)).toBe(true)
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0)
    // The held one, begun before the signal, completes normally once its body arrives.
    expect(server.child.exitCode).toBeNull()
    held.write(body.slice(-1))
    await once(held, 'close')
    expect(heldAnswer).toMatch(/^HTTP\/1\.1 200 /)

    const [code] = await exited
    expect(code).toBe(0)
    // Asked until none is left, for up to a second: in CI, 3 were still there at the first look.
    expect(await appConnectionsLeft(db.url)).toBe(0)
    for (const a of agents) a.destroy()
  }, 60_000)

  // A client may open a connection and send nothing (a preconnecting HTTP client, a health
  // checker, a stuck peer). Node counts it as busy until its headers timeout (60 s), so a close
  // that waits for it would outlast the shutdown's 10 s limit, which exits 1.
  it('a connection that never sends a request does not hold the exit', async () => {
    const server = await startServer({ DATABASE_URL: db.url, ...benchSecrets() })
    const silent = net.connect(Number(new URL(server.base).port), '127.0.0.1')
    await once(silent, 'connect')
    const closed = once(silent, 'close')
    const exited = once(server.child, 'exit')
    server.child.kill('SIGTERM')
    const [code] = await exited
    expect(code).toBe(0)
    await closed
  }, 30_000)
})
