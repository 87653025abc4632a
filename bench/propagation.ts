// npm run bench:propagation: how long a logout takes to reach a service in another process.
//
// Two auth service processes (dist/server/main.js) on one database and the example resource
// server (examples/resource-server, npm install there first) subscribed to B's revocation
// feed. Each run logs in on A, checks GET /orders is 200, logs out on A and polls the resource
// server every 2 ms until its first 401: that interval, over PROPAGATION_RUNS runs (200), as
// p50/p99/max. Then the memory of the resource server's revocation store per revoked session:
// the heap before and after 100 000 entries, in a node process of its own with --expose-gc.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { benchSecrets, freePort, startServer } from './lib/server.js'
import { benchDatabase } from './lib/database.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const EXAMPLE = join(ROOT, 'examples', 'resource-server')
const RUNS = Number(process.env.PROPAGATION_RUNS ?? 200)

async function main() {
  if (!existsSync(join(EXAMPLE, 'node_modules', 'fastify-auth-service'))) throw new Error('run `npm install` in examples/resource-server first')
  const db = await benchDatabase()
  const secret = randomBytes(32).toString('base64url')
  const portB = await freePort()
  const env = {
    ...benchSecrets(),
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    ISSUER: `http://127.0.0.1:${portB}/auth`,
    OAUTH_CLIENTS: JSON.stringify([{ client_id: 'orders-api', client_secret: secret }]),
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    RATE_LIMIT_LOGIN_PER_IP: '1000000',
    DEMO_PAGE: 'false',
    LOG_LEVEL: 'warn',
  }
  const [a, b] = await Promise.all([startServer({ ...env, PORT: String(await freePort()) }), startServer({ ...env, PORT: String(portB) })])
  const rsPort = await freePort()
  const rs = spawn(process.execPath, ['server.js'], {
    cwd: EXAMPLE,
    env: { PATH: process.env.PATH ?? '', AUTH_URL: env.ISSUER, CLIENT_ID: 'orders-api', CLIENT_SECRET: secret, HOST: '127.0.0.1', PORT: String(rsPort) },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const rsBase = `http://127.0.0.1:${rsPort}`
  try {
    const json = async (url: string, init?: RequestInit) => {
      const res = await fetch(url, init)
      return { status: res.status, body: (await res.text()) || null }
    }
    const account = { email: `bench-${randomBytes(4).toString('hex')}@example.com`, password: 'correct horse battery' }
    await json(`${a.base}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(account) })
    const login = async () => JSON.parse((await json(`${a.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(account) })).body!).access_token as string
    const orders = (token: string) => fetch(`${rsBase}/orders`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => (await r.arrayBuffer(), r.status))
    // ready: the resource server has had its first sync
    const first = await login()
    for (let i = 0; (await orders(first).catch(() => 0)) !== 200; i++) {
      if (i > 500) throw new Error('the resource server never became ready')
      await new Promise((r) => setTimeout(r, 20))
    }
    const samples: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const token = await login()
      if ((await orders(token)) !== 200) throw new Error('a fresh token was refused')
      const started = performance.now()
      const out = await fetch(`${a.base}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
      if (out.status !== 204) throw new Error(`logout answered ${out.status}`)
      while ((await orders(token)) !== 401) {
        if (performance.now() - started > 5000) throw new Error('no 401 within 5 s')
        await new Promise((r) => setTimeout(r, 2))
      }
      samples.push(performance.now() - started)
    }
    samples.sort((x, y) => x - y)
    const pct = (p: number) => samples[Math.min(samples.length - 1, Math.ceil((p / 100) * samples.length) - 1)]!.toFixed(1)
    console.log(`logout on A -> first 401 on the resource server (feed from B), ${RUNS} runs: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${samples.at(-1)!.toFixed(1)} ms`)
  } finally {
    rs.kill('SIGTERM')
    await Promise.all([a.stop(), b.stop()])
    await db.stop()
  }
  console.log(memoryPerEntry())
}

/** The resource server's revocation store, 100 000 sessions, heap measured around them. */
function memoryPerEntry(): string {
  const n = 100_000
  const script = `
    const { Revocations } = await import(${JSON.stringify(join(ROOT, 'dist/resource-server/revocations.js'))})
    const { randomUUID } = await import('node:crypto')
    const store = new Revocations()
    store.synced({ cursor: '0', retainMs: 907000, accessTokenTtlSec: 900 })
    globalThis.gc(); globalThis.gc()
    const before = process.memoryUsage().heapUsed
    const now = Date.now()
    // each sid a string of its own, parsed from JSON as the feed client gets it from its event
    // (randomUUID's own strings are slices of a larger cache and would be counted bigger)
    for (let i = 0; i < ${n}; i++) store.add(JSON.parse(JSON.stringify(randomUUID())), now)
    globalThis.gc(); globalThis.gc()
    const after = process.memoryUsage().heapUsed
    console.log(JSON.stringify({ entries: store.size, bytes: after - before }))
  `
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(r.stderr)
  const { entries, bytes } = JSON.parse(r.stdout) as { entries: number; bytes: number }
  return `resource server, ${entries} revoked sessions: ${(bytes / 1e6).toFixed(1)} MB of heap, ${Math.round(bytes / entries)} bytes per revoked session (its id string and its Map entry)`
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
