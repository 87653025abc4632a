// Neither register nor forgot may tell, by their answer or its time, whether an address has an
// account. Statistical, like login-timing.test.ts: medians of alternating samples. Register is
// dominated by argon2 and gets login's loose 0.5–2. Forgot is a few milliseconds either way
// (one counter upsert), where one database statement more for an existing account would be
// about half as much again: its bound is tighter, 0.77–1.3, over more samples (a version that
// looked the account up and queued the mail before answering measured 1.4 and 1.5).
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { register, uniqueEmail } from '../helpers/flows.js'
import { startSmtp, type SmtpSink } from '../helpers/smtp.js'

let smtp: SmtpSink
let t: TestApp
beforeAll(async () => {
  smtp = await startSmtp()
  t = await buildTestApp({ env: { SMTP_URL: smtp.url, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '2' } })
})
afterAll(async () => {
  await t?.close()
  await smtp?.close()
})

const SAMPLES = 30

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2
}

async function compare(route: string, payloadFor: (email: string) => object, existing: string[], samples = SAMPLES) {
  const timed = async (email: string) => {
    const started = process.hrtime.bigint()
    const res = await t.app.inject({ method: 'POST', url: route, payload: payloadFor(email) })
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    // Let the work done after the answer finish, so it weighs on neither kind of sample.
    await new Promise((r) => setTimeout(r, 5))
    return { ms, answer: `${res.statusCode} ${res.body.replace(email, '<email>')} ${res.headers['retry-after'] ?? ''}` }
  }
  await timed(uniqueEmail()) // warm-up
  const known: number[] = []
  const unknown: number[] = []
  const answers = new Set<string>()
  for (let i = 0; i < samples; i++) {
    const fresh = uniqueEmail()
    const pair = i % 2 === 0 ? [existing[i]!, fresh] : [fresh, existing[i]!]
    for (const email of pair) {
      const r = await timed(email)
      ;(email === fresh ? unknown : known).push(r.ms)
      answers.add(r.answer)
    }
  }
  const ratio = median(known) / median(unknown)
  console.info(`[timing] ${route}: median existing ${median(known).toFixed(2)} ms, new ${median(unknown).toFixed(2)} ms, ratio ${ratio.toFixed(2)}`)
  return { answers: [...answers], ratio }
}

it('register: a taken address and a new one get the same 202, in the same time', async () => {
  const users = []
  for (let i = 0; i < SAMPLES; i++) users.push(await register(t.app))
  const { answers, ratio } = await compare('/auth/register', (email) => ({ email, password: 'correct horse battery' }), users.map((u) => u.email))
  expect(answers).toEqual(['202 {"email":"<email>"} '])
  expect(ratio).toBeGreaterThan(0.5)
  expect(ratio).toBeLessThan(2)
})

it('forgot: an address with an account and one without get the same 202, in the same time', async () => {
  const users = []
  for (let i = 0; i < 2 * SAMPLES; i++) users.push(await register(t.app))
  const { answers, ratio } = await compare('/auth/password/forgot', (email) => ({ email }), users.map((u) => u.email), 2 * SAMPLES)
  expect(answers).toEqual(['202 {"status":"accepted"} '])
  expect(ratio).toBeGreaterThan(0.77)
  expect(ratio).toBeLessThan(1.3)
})

// What the medians above cannot resolve, a lock can: with the users table locked, forgot still
// answers at once for both kinds of address, because nothing before its answer reads an
// account; the lookup waits for the lock after the answer, and then mails the existing one.
it('forgot answers before it looks the account up', async () => {
  const user = await register(t.app)
  const locker = new pg.Client({ connectionString: t.databaseUrl })
  await locker.connect()
  try {
    await locker.query('BEGIN')
    await locker.query('LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE')
    for (const email of [user.email, uniqueEmail()]) {
      const started = Date.now()
      const res = await t.app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email } })
      expect(res.statusCode).toBe(202)
      // The lock wait would be DB_LOCK_TIMEOUT_MS (2 s), then a 503.
      expect(Date.now() - started).toBeLessThan(1000)
    }
    await locker.query('ROLLBACK')
  } finally {
    await locker.end()
  }
  // Behind the mails of the samples above, still going out.
  expect((await smtp.next(user.email, /reset your password/, 30_000)).token).toBeTruthy()
})
