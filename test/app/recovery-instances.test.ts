// The mail flows on two instances behind one database, over real sockets and real SMTP: a
// mail asked for on one instance is completed on the other, and a password reset while
// sessions are live on both ends every one of them on both within a second.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { me, post, startCluster, timeUntil, type Cluster } from '../helpers/instances.js'
import { startSmtp, type SmtpSink } from '../helpers/smtp.js'

let smtp: SmtpSink
let cluster: Cluster
let a: string
let b: string
beforeAll(async () => {
  smtp = await startSmtp()
  // A catch-up interval far beyond the tests: only notifications can carry a revocation in time.
  cluster = await startCluster(2, { SMTP_URL: smtp.url, DENYLIST_SYNC_INTERVAL_MS: '60000' })
  ;[a, b] = cluster.instances.map((i) => i.base) as [string, string]
})
afterAll(async () => {
  await cluster?.close()
  await smtp?.close()
})

const PASSWORD = 'correct horse battery'
const email = () => `two-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`

async function account() {
  const address = email()
  expect((await post(a, '/auth/register', { email: address, password: PASSWORD })).status).toBe(202)
  const verify = await smtp.next(address, /confirm your email address/)
  return { address, verify }
}

describe('mail flows on two instances', () => {
  it('registered on A, verified on B; reset asked on B, done on A', async () => {
    const { address, verify } = await account()
    expect((await post(b, '/auth/email/verify', { token: verify.token })).status).toBe(204)
    const login = await post(a, '/auth/login', { email: address, password: PASSWORD })
    expect((await me(b, login.json.access_token)).json.email_verified).toBe(true)

    expect((await post(b, '/auth/password/forgot', { email: address })).status).toBe(202)
    const mail = await smtp.next(address, /reset your password/)
    expect((await post(a, '/auth/password/reset', { email: address, code: mail.code, new_password: 'new on instance A' })).status).toBe(204)
    expect((await post(b, '/auth/login', { email: address, password: 'new on instance A' })).status).toBe(200)
  })

  it('a reset while sessions are live on both instances: every session refused on both within 1 s', async () => {
    const { address } = await account()
    const sessions: { access_token: string; refresh_token: string }[] = []
    for (const base of [a, b, a, b]) {
      const res = await post(base, '/auth/login', { email: address, password: PASSWORD })
      expect(res.status).toBe(200)
      sessions.push(res.json as { access_token: string; refresh_token: string })
    }
    for (const s of sessions) for (const base of [a, b]) expect((await me(base, s.access_token)).status).toBe(200)

    expect((await post(a, '/auth/password/forgot', { email: address })).status).toBe(202)
    const mail = await smtp.next(address, /reset your password/)
    expect((await post(a, '/auth/password/reset', { token: mail.token, new_password: 'after the reset' })).status).toBe(204)
    const ms = await timeUntil(async () => {
      const answers = await Promise.all(sessions.flatMap((s) => [a, b].map((base) => me(base, s.access_token))))
      return answers.every((r) => r.status === 401 && r.json.error === 'session_revoked')
    }, 1000)
    console.info(`[recovery-instances] reset on A: all 4 sessions refused on A and B after ${ms} ms`)
    for (const s of sessions) expect((await post(b, '/auth/refresh', { refresh_token: s.refresh_token })).json.error).toBe('session_revoked')
  })

  it('change of address asked on A, confirmed on B, undone on A', async () => {
    const { address } = await account()
    const login = await post(b, '/auth/login', { email: address, password: PASSWORD })
    const next = email()
    const asked = await post(a, '/auth/email/change', { new_email: next, password: PASSWORD }, { authorization: `Bearer ${login.json.access_token}` })
    expect(asked.status).toBe(202)
    expect((await post(b, '/auth/email/change/confirm', { token: (await smtp.next(next, /confirm your new/)).token })).status).toBe(204)
    expect((await post(a, '/auth/login', { email: next, password: PASSWORD })).status).toBe(200)
    const undo = await smtp.next(address, /your email address was changed/)
    expect((await post(a, '/auth/email/change/undo', { token: undo.token })).status).toBe(204)
    await timeUntil(async () => (await me(b, login.json.access_token)).status === 401, 1000)
    expect((await post(b, '/auth/login', { email: address, password: PASSWORD })).status).toBe(200)
  })
})
