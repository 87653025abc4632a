// An unknown email and a wrong password must be indistinguishable: same status, same body,
// and the same time (both do one argon2 verify, one counter update and one user lookup).
// The timing check is statistical and loose on purpose: medians of alternating samples, with
// an argon2 cost high enough to dominate scheduling noise, and a ratio anywhere in 0.5–2.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { register, uniqueEmail } from '../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  // About 10–20 ms per verify: large against noise, small for the suite.
  t = await buildTestApp({ env: { ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '2' } })
})
afterAll(() => t.close())

const SAMPLES = 30

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2
}

it('unknown email and wrong password: same status, same body, same time', async () => {
  // One account per wrong-password sample, so no sample meets the failed-login lock; each
  // unknown address is fresh too.
  const users = []
  for (let i = 0; i < SAMPLES; i++) users.push(await register(t.app))
  const timed = async (email: string) => {
    const started = process.hrtime.bigint()
    const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'not the password' } })
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, status: res.statusCode, body: res.body, headers: res.headers }
  }
  // Warm-up: first calls pay for JIT and connections.
  await timed(uniqueEmail())
  await timed(users[0]!.email)

  const wrong: number[] = []
  const unknown: number[] = []
  const answers = new Set<string>()
  for (let i = 0; i < SAMPLES; i++) {
    // Alternate which goes first, so drift over the run hits both alike.
    const pair = i % 2 === 0 ? [users[i]!.email, uniqueEmail()] : [uniqueEmail(), users[i]!.email]
    for (const email of pair) {
      const r = await timed(email)
      ;(email === users[i]!.email ? wrong : unknown).push(r.ms)
      answers.add(`${r.status} ${r.body} ${r.headers['retry-after'] ?? ''}`)
    }
  }
  expect([...answers]).toEqual([`401 ${JSON.stringify({ error: 'invalid_credentials', error_description: 'Email or password is incorrect.' })} `])
  const ratio = median(wrong) / median(unknown)
  console.info(`[timing] median wrong password ${median(wrong).toFixed(1)} ms, unknown email ${median(unknown).toFixed(1)} ms, ratio ${ratio.toFixed(2)}`)
  expect(ratio).toBeGreaterThan(0.5)
  expect(ratio).toBeLessThan(2)
})
