// A login's second-factor challenge across two instances on real sockets, sharing one database
// as behind a load balancer: issued on A, answered on B; once answered, refused on both; and two
// answers racing on A and B at once start one session, not two.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminQuery } from '../helpers/database.js'
import { post, signup, startCluster, type Cluster } from '../helpers/instances.js'
import { base32Decode, totp } from '../../src/mfa/totp.js'

let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(2)
})
afterAll(() => cluster?.close())

const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

/**
 * An account with the authenticator app on (enrolled through `base`), its recovery codes, and
 * `nextCode`: the code of the step after the one the confirmation used (good within the one
 * step of skew, so nobody waits for the clock).
 */
async function enrolledOn(base: string) {
  const u = await signup(base)
  const secret = base32Decode((await post(base, '/auth/mfa/totp/enroll', {}, bearer(u.accessToken))).json.secret)
  const at = Date.now()
  const confirmed = await post(base, '/auth/mfa/totp/confirm', { code: totp(secret, at) }, bearer(u.accessToken))
  expect(confirmed.status).toBe(200)
  return { ...u, secret, recoveryCodes: confirmed.json.recovery_codes as string[], nextCode: totp(secret, at + 30_000) }
}

describe('second-factor challenges on two instances', () => {
  it('a challenge issued on A is answered on B; once used it is refused on both', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const u = await enrolledOn(a)
    const onA = await post(a, '/auth/login', { email: u.email, password: u.password })
    expect([onA.status, onA.json.error]).toEqual([401, 'mfa_required'])
    const { challenge } = onA.json
    const answered = await post(b, '/auth/mfa/verify', { challenge, code: u.nextCode })
    expect(answered.status).toBe(200)
    expect(typeof answered.json.access_token).toBe('string')
    // B's session works on A.
    expect((await fetch(`${a}/auth/me`, { headers: bearer(answered.json.access_token) })).status).toBe(200)
    // Spent: refused on both, whatever the code.
    for (const base of [a, b]) {
      const again = await post(base, '/auth/mfa/verify', { challenge, recovery_code: u.recoveryCodes[0] })
      expect([base, again.status, again.json.error]).toEqual([base, 401, 'invalid_mfa_challenge'])
    }
    const left = await adminQuery('SELECT count(*)::int AS n FROM auth.mfa_challenges WHERE purpose = $1', ['login'], cluster.databaseUrl)
    expect(left[0]!.n).toBe(0)
  })

  it('two good answers racing on A and B for one challenge start exactly one session', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const u = await enrolledOn(a)
    const { challenge } = (await post(b, '/auth/login', { email: u.email, password: u.password })).json
    // A code and a recovery code: both good, each on its own.
    const [x, y] = await Promise.all([
      post(a, '/auth/mfa/verify', { challenge, code: u.nextCode }),
      post(b, '/auth/mfa/verify', { challenge, recovery_code: u.recoveryCodes[0] }),
    ])
    expect([x.status, y.status].sort()).toEqual([200, 401])
    expect([x, y].find((r) => r.status === 401)!.json.error).toBe('invalid_mfa_challenge')
    const sessions = await adminQuery(
      `SELECT count(*)::int AS n FROM auth.token_families f JOIN auth.users u ON u.id = f.user_id WHERE u.email = $1`,
      [u.email],
      cluster.databaseUrl,
    )
    // the signup's session, and one from the challenge
    expect(sessions[0]!.n).toBe(2)
  })
})
