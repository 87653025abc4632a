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
