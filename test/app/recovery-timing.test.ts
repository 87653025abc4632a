// Neither register nor forgot may tell, by their answer or its time, whether an address has an
// account. Statistical and loose on purpose, like login-timing.test.ts: medians of alternating
// samples, argon2 costly enough to dominate scheduling noise, a ratio anywhere in 0.5–2.
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

async function compare(route: string, payloadFor: (email: string) => object, existing: string[]) {
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
  for (let i = 0; i < SAMPLES; i++) {
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
  for (let i = 0; i < SAMPLES; i++) users.push(await register(t.app))
  const { answers, ratio } = await compare('/auth/password/forgot', (email) => ({ email }), users.map((u) => u.email))
  expect(answers).toEqual(['202 {"status":"accepted"} '])
  expect(ratio).toBeGreaterThan(0.5)
  expect(ratio).toBeLessThan(2)
})
