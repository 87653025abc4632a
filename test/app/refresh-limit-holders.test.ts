// The per-session refresh limit must never change what a later request is judged to be.
// Replays of the parent hand out nothing new, so they are never limited; a limited rotation
// spends nothing, so waiting out Retry-After and retrying the same token is still a rotation
// or a replay, never reuse. Seven holders of one token (tabs, retries) refresh together,
// round after round, on two instances, each honouring every 429 as the SDK does.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { adminQuery } from '../helpers/database.js'
import { post, signup, startCluster, type Cluster } from '../helpers/instances.js'

let cluster: Cluster
beforeAll(async () => {
  // A small limit, a limit window longer than the reuse window: a limited replay retried after
  // Retry-After would arrive after the window and be judged reuse.
  cluster = await startCluster(2, { RATE_LIMIT_REFRESH_PER_SESSION: '3', RATE_LIMIT_WINDOW_SEC: '3', REFRESH_REUSE_WINDOW: '1' })
})
afterAll(() => cluster.close())

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

it('seven holders refreshing together for six rounds, waiting out every 429, all stay logged in', async () => {
  const s = await signup(cluster.instances[0]!.base)
  const statuses: number[] = []
  let limited = 0
  let token = s.refreshToken

  for (let round = 0; round < 6; round++) {
    const answers = await Promise.all(
      Array.from({ length: 7 }, async (_, holder) => {
        const base = cluster.instances[holder % 2]!.base
        for (;;) {
          const r = await post(base, '/auth/refresh', { refresh_token: token })
          statuses.push(r.status)
          if (r.status !== 429) return r
          limited++
          await sleep(Number(r.headers.get('retry-after')) * 1000)
        }
      }),
    )
    expect(answers.map((a) => a.status)).toEqual(Array(7).fill(200))
    // Every holder got the same child, so they all carry on with one token.
    expect(new Set(answers.map((a) => a.json.refresh_token)).size).toBe(1)
    token = answers[0]!.json.refresh_token
  }

  expect(statuses.every((code) => code === 200 || code === 429)).toBe(true)
  // The limit was really reached, and waited out, along the way.
  expect(limited).toBeGreaterThan(0)
  const [family] = await adminQuery('SELECT revoked_at, revoked_reason FROM auth.token_families WHERE id = $1', [s.sid], cluster.databaseUrl)
  expect(family).toEqual({ revoked_at: null, revoked_reason: null })
}, 60_000)
