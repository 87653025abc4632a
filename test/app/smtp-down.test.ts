// An SMTP server that is down: every answer is what it would have been, as fast; each mail is
// retried, then logged as given up with its error (never with its link or code); once the
// server is back, later mails go through.
import { createServer } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { register, uniqueEmail } from '../helpers/flows.js'
import { startSmtp } from '../helpers/smtp.js'

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const lines: string[] = []
let t: TestApp
let port: number
beforeAll(async () => {
  port = await closedPort()
  t = await buildTestApp({
    env: { SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_SEND_ATTEMPTS: '3', MAIL_RETRY_BASE_MS: '20', LOG_LEVEL: 'info' },
    logStream: { write: (l: string) => void lines.push(l) },
  })
})
afterAll(() => t.close())

const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown> & { msg: string })

it('answers as usual and at once, retries each mail, then logs it as given up with the error', async () => {
  const email = uniqueEmail()
  const started = Date.now()
  const registered = await t.app.inject({ method: 'POST', url: '/auth/register', payload: { email, password: 'correct horse battery' } })
  const forgot = await t.app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email } })
  const nobody = await t.app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: uniqueEmail() } })
  expect(Date.now() - started).toBeLessThan(2000)
  expect([registered.statusCode, forgot.statusCode, nobody.statusCode]).toEqual([202, 202, 202])
  expect(nobody.body).toBe(forgot.body)

  const deadline = Date.now() + 5000
  while (logged().filter((l) => l.msg === 'mail could not be sent; given up').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  const givenUp = logged().filter((l) => l.msg === 'mail could not be sent; given up')
  expect(givenUp.map((l) => (l.mail as { kind: string }).kind).sort()).toEqual(['reset_password', 'verify_email'])
  for (const l of givenUp) {
    expect(l.attempts).toBe(3)
    expect(l.level).toBe(50)
    expect(l.err).toMatchObject({ code: expect.stringMatching(/ECONNREFUSED|ESOCKET|ECONNECTION/) })
  }
  expect(logged().filter((l) => l.msg === 'mail send failed; will retry')).toHaveLength(4)
  // No line holds a link, a code or the address itself.
  const all = lines.join('\n')
  expect(all).not.toMatch(/token=|"code":"\d{6}"|"link"/)
  expect(all).not.toContain(email)
})

it('sends again once the server is back', async () => {
  const user = await register(t.app)
  const smtp = await startSmtp({ port })
  try {
    expect((await t.app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email } })).statusCode).toBe(202)
    expect((await smtp.next(user.email, /reset your password/)).token).toMatch(/^[A-Za-z0-9_-]{43}$/)
  } finally {
    await smtp.close()
  }
})

// The worse failure: a server that accepts the connection and then says nothing (a hung
// provider, a firewall that swallows packets). The answer must not wait for it; each attempt
// gives up after MAIL_TIMEOUT_MS, and the mail is retried and then given up like any other.
it('a server that accepts and never answers: the answer does not wait, each attempt times out', async () => {
  const silent = createServer(() => {}) // holds every connection open, writes nothing
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const silentLines: string[] = []
  const app = await buildTestApp({
    env: { SMTP_URL: `smtp://127.0.0.1:${(silent.address() as { port: number }).port}`, MAIL_SEND_ATTEMPTS: '2', MAIL_RETRY_BASE_MS: '20', MAIL_TIMEOUT_MS: '1500', LOG_LEVEL: 'info' },
    logStream: { write: (l: string) => void silentLines.push(l) },
  })
  try {
    const started = Date.now()
    const res = await app.app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: (await register(app.app)).email } })
    const answeredIn = Date.now() - started
    expect(res.statusCode).toBe(202)
    // Well under one timeout: the send had not even given up its first attempt yet.
    expect(answeredIn).toBeLessThan(1000)
    const lines = () => silentLines.map((l) => JSON.parse(l) as { msg: string; attempts?: number; err?: { message?: string; code?: string } })
    const deadline = Date.now() + 10_000
    while (!lines().some((l) => l.msg === 'mail could not be sent; given up' && l.attempts === 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const givenUp = lines().filter((l) => l.msg === 'mail could not be sent; given up')
    expect(givenUp.map((l) => l.attempts)).toContain(2)
    expect(JSON.stringify(givenUp.map((l) => l.err))).toMatch(/timeout|ETIMEDOUT/i)
    // Two mails (verification at register, then the reset), each tried twice and given up after
    // its timeouts: at least one timeout apart from the answer.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500)
  } finally {
    await app.close()
    await new Promise<void>((resolve) => silent.close(() => resolve()))
  }
}, 30_000)
