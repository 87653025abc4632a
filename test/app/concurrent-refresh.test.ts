// Many holders of one refresh token racing, over real sockets on real Postgres, on one and
// on two server instances. Every caller must get 200 and the same child, the family must
// stay alive, and exactly one live token must remain.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminQuery } from '../helpers/database.js'
import { post, signup, startCluster, type Cluster } from '../helpers/instances.js'

let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(2, { DB_POOL_SIZE: '8' })
})
afterAll(() => cluster.close())

const sha = (s: string) => createHash('sha256').update(s).digest('hex')

async function familyState(sid: string) {
  const [fam] = await adminQuery<{ revoked_at: Date | null }>('SELECT revoked_at FROM auth.token_families WHERE id = $1', [sid], cluster.databaseUrl)
  const live = await adminQuery<{ token_hash: string }>(
    'SELECT token_hash FROM auth.refresh_tokens WHERE family_id = $1 AND spent_at IS NULL',
    [sid],
    cluster.databaseUrl,
  )
  return { revoked: fam!.revoked_at !== null, live: live.map((r) => r.token_hash) }
}

async function race(k: number, bases: string[]) {
  const s = await signup(bases[0]!)
  const results = await Promise.all(
    Array.from({ length: k }, (_, i) => post(bases[i % bases.length]!, '/auth/refresh', { refresh_token: s.refreshToken })),
  )
  return { s, results }
}

// trials per k: several hundred races in all, kept fast by cheap argon2 and small k for most.
const PLAN: [k: number, trials: number][] = [
  [2, 120],
  [5, 60],
  [20, 20],
  [50, 8],
]

describe.each([
  ['one instance', 1],
  ['two instances behind a round-robin', 2],
])('concurrent refreshes of one token, %s', (_name, n) => {
  it.each(PLAN)('k=%i: every caller gets 200 and the same child; one live token remains (%i trials)', async (k, trials) => {
    const bases = cluster.instances.slice(0, n).map((i) => i.base)
    for (let trial = 0; trial < trials; trial++) {
      const { s, results } = await race(k, bases)
      const statuses = results.map((r) => r.status)
      expect(statuses, `trial ${trial}: ${JSON.stringify(results.find((r) => r.status !== 200)?.json)}`).toEqual(Array(k).fill(200))
      const children = new Set(results.map((r) => r.json.refresh_token))
      expect(children.size).toBe(1)
      const [child] = children
      const state = await familyState(s.sid)
      expect(state).toEqual({ revoked: false, live: [sha(child as string)] })
    }
  })
})

describe('concurrent rotation, replay and logout of one family', () => {
  it('never leaves two live tokens or a half-revoked family', async () => {
    const bases = cluster.instances.map((i) => i.base)
    for (let trial = 0; trial < 40; trial++) {
      const s = await signup(bases[0]!)
      const first = await post(bases[1]!, '/auth/refresh', { refresh_token: s.refreshToken })
      const child = first.json.refresh_token as string
      // Old parent (replay inside the window), the child (rotation) and a logout, all at once.
      const ops = [
        post(bases[0]!, '/auth/refresh', { refresh_token: s.refreshToken }),
        post(bases[1]!, '/auth/refresh', { refresh_token: child }),
        post(bases[0]!, '/auth/refresh', { refresh_token: child }),
        post(bases[1]!, '/auth/refresh', { refresh_token: s.refreshToken }),
        ...(trial % 2 === 0 ? [post(bases[trial % 4 < 2 ? 0 : 1]!, '/auth/logout', { refresh_token: child })] : []),
      ]
      const results = await Promise.all(ops)
      for (const r of results) expect([200, 204, 401]).toContain(r.status)
      const state = await familyState(s.sid)
      expect(state.live.length).toBeLessThanOrEqual(1)
      if (state.revoked) {
        // Revoked means revoked for every token, on every instance.
        for (const base of bases) {
          for (const token of [s.refreshToken, child]) {
            expect((await post(base, '/auth/refresh', { refresh_token: token })).status).toBe(401)
          }
        }
      } else {
        expect(state.live).toHaveLength(1)
      }
    }
  })
})
