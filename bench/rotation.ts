// Rotation and logout figures (issue: rotation that never logs out a legitimate user).
//   npm run bench:rotation            (embedded PostgreSQL, or DATABASE_URL's server)
// Two server processes share one database. Prints:
//   - rotations/s, one client refreshing its own chain (no concurrency)
//   - rotations/s, 16 clients each on its own family
//   - k concurrent refreshes of ONE token (k = 2, 5, 20, 50): rounds/s, responses/s, and
//     that every caller got the same child
//   - time from a logout answered by A to the first 401 for that session's access token on B
import { mkdir, writeFile } from 'node:fs/promises'
import { benchDatabase } from './lib/database.js'
import { benchSecrets, startServer } from './lib/server.js'
import { seedSessions } from './lib/seed.js'
import { round, summary } from './lib/stats.js'

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000

async function refresh(base: string, token: string) {
  const res = await fetch(`${base}/auth/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: token }),
  })
  const body = (await res.json()) as { refresh_token?: string; access_token?: string; error?: string }
  return { status: res.status, body }
}

async function main() {
  const db = await benchDatabase()
  const secrets = benchSecrets()
  // One client drives a single family hundreds of times a second here: lift the per-session
  // refresh limit, which exists for real clients, so the figure is the rotation path's own.
  const env = { DATABASE_URL: db.url, ...secrets, RATE_LIMIT_REFRESH_PER_SESSION: '1000000' }
  const a = await startServer(env)
  const b = await startServer(env)
  const results: Record<string, unknown> = {}
  try {
    const sessions = await seedSessions(db.admin, 20_000)
    let next = 0
    const take = () => sessions[next++]!

    // 1. One client, one chain: each request waits for the previous answer.
    {
      let token = take().refreshToken
      const lat: number[] = []
      const until = Date.now() + DURATION_MS
      while (Date.now() < until) {
        const t0 = performance.now()
        const r = await refresh(a.base, token)
        lat.push(performance.now() - t0)
        if (r.status !== 200) throw new Error(`sequential refresh failed: ${JSON.stringify(r.body)}`)
        token = r.body.refresh_token!
      }
      results.sequential = { rotationsPerSec: round(lat.length / (DURATION_MS / 1000)), latencyMs: mapRound(summary(lat)) }
    }

    // 2. 16 clients, each rotating its own family, split across both instances.
    {
      const lat: number[] = []
      const until = Date.now() + DURATION_MS
      await Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          let token = take().refreshToken
          const base = i % 2 ? b.base : a.base
          while (Date.now() < until) {
            const t0 = performance.now()
            const r = await refresh(base, token)
            lat.push(performance.now() - t0)
            if (r.status !== 200) throw new Error(`parallel refresh failed: ${JSON.stringify(r.body)}`)
            token = r.body.refresh_token!
          }
        }),
      )
      results.parallelFamilies = { clients: 16, rotationsPerSec: round(lat.length / (DURATION_MS / 1000)), latencyMs: mapRound(summary(lat)) }
    }

    // 3. k holders of one token at once (two tabs, retries): all must get the same child.
    results.sameToken = {}
    for (const k of [2, 5, 20, 50]) {
      const roundMs: number[] = []
      let responses = 0
      const until = Date.now() + DURATION_MS / 2
      while (Date.now() < until) {
        const s = take()
        const t0 = performance.now()
        const rs = await Promise.all(Array.from({ length: k }, (_, i) => refresh(i % 2 ? b.base : a.base, s.refreshToken)))
        roundMs.push(performance.now() - t0)
        responses += k
        const children = new Set(rs.map((r) => r.body.refresh_token))
        if (rs.some((r) => r.status !== 200) || children.size !== 1) {
          throw new Error(`k=${k}: ${JSON.stringify(rs.map((r) => r.status))}, ${children.size} distinct children`)
        }
      }
      const secs = roundMs.reduce((x, y) => x + y, 0) / 1000
      ;(results.sameToken as Record<string, unknown>)[`k${k}`] = {
        rounds: roundMs.length,
        roundsPerSec: round(roundMs.length / secs),
        responsesPerSec: round(responses / secs),
        roundMs: mapRound(summary(roundMs)),
        allSameChild: true,
      }
    }

    // 4. Logout on A, first 401 on B.
    {
      const runs = Number(process.env.BENCH_LOGOUT_RUNS ?? 200)
      const delays: number[] = []
      for (let i = 0; i < runs; i++) {
        const s = take()
        const first = await refresh(a.base, s.refreshToken)
        const access = first.body.access_token!
        const me = () => fetch(`${b.base}/auth/me`, { headers: { authorization: `Bearer ${access}` } }).then(async (r) => (await r.arrayBuffer(), r.status))
        if ((await me()) !== 200) throw new Error('access token not accepted on B before logout')
        const out = await fetch(`${a.base}/auth/logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: first.body.refresh_token }),
        })
        const t0 = performance.now()
        if (out.status !== 204) throw new Error(`logout ${out.status}`)
        while ((await me()) !== 401) {
          if (performance.now() - t0 > 5000) throw new Error('B still accepts the token 5 s after logout')
        }
        delays.push(performance.now() - t0)
      }
      results.logoutToFirst401OnB = { runs, ms: mapRound(summary(delays), 2) }
    }

    const ma = await a.metrics()
    const mb = await b.metrics()
    results.denylistEntries = { a: ma.denylistSize, b: mb.denylistSize }
  } finally {
    await a.stop()
    await b.stop()
    await db.stop()
  }
  console.log(JSON.stringify(results, null, 2))
  await mkdir('bench/results', { recursive: true })
  await writeFile(`bench/results/rotation-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, JSON.stringify(results, null, 2))
}

function mapRound<T extends Record<string, number>>(o: T, digits = 1): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, digits)])) as T
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
