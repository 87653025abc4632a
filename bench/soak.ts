// Soak: mixed traffic for a long time at ~80% of what this machine sustains, with the server's
// memory sampled throughout. Not part of `npm test`.
//   npm run soak                       10 minutes (SOAK_SECONDS=600), 80% (SOAK_LOAD=0.8)
//   SOAK_SECONDS=60 npm run soak       a quick look
// Traffic: GET /auth/me with many distinct Bearer tokens, POST /auth/refresh rotating distinct
// families, POST /auth/login with the production argon2 cost. First a calibration run at full
// load measures each stream's maximum (all three at once, as in the soak); the soak then runs
// each stream capped at SOAK_LOAD of that. Prints and writes bench/results/soak-<time>.json.
import { mkdir, writeFile } from 'node:fs/promises'
import autocannon from 'autocannon'
import { loadConfig } from '../dist/server/config.js'
import { PasswordHasher } from '../dist/auth/password.js'
import { benchDatabase } from './lib/database.js'
import { benchSecrets } from './lib/server.js'
import { PROD_ENV, SCRIPTS, startProc, type Proc } from './lib/proc.js'
import { seedSessions } from './lib/seed.js'
import { seedLoginUsers, settle } from './lib/bulk.js'
import { signAccessTokens } from './lib/access-tokens.js'
import { TokenQueue } from './lib/token-queue.js'
import { round } from './lib/stats.js'

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 600)
const CALIBRATE_SECONDS = Number(process.env.SOAK_CALIBRATE_SECONDS ?? 15)
const LOAD = Number(process.env.SOAK_LOAD ?? 0.8)
const SAMPLE_EVERY_MS = 10_000
const PASSWORD = 'soak-password-123'

interface Stream {
  name: string
  connections: number
  request: autocannon.Request
}

function streams(accessTokens: string[], queue: TokenQueue, loginEmails: string[]): Stream[] {
  let a = 0
  let l = 0
  return [
    {
      name: 'GET /auth/me',
      connections: 16,
      request: {
        method: 'GET',
        path: '/auth/me',
        setupRequest: (req: Record<string, unknown>) => ({
          ...req,
          headers: { authorization: `Bearer ${accessTokens[a++ % accessTokens.length]}` },
        }),
      } as unknown as autocannon.Request,
    },
    {
      name: 'POST /auth/refresh',
      connections: 8,
      request: {
        method: 'POST',
        path: '/auth/refresh',
        setupRequest: (req: Record<string, unknown>) => ({
          ...req,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: queue.take() }),
        }),
        onResponse: (status: number, body: string) => queue.answer(status, body),
      } as unknown as autocannon.Request,
    },
    {
      name: 'POST /auth/login',
      connections: 4,
      request: {
        method: 'POST',
        path: '/auth/login',
        setupRequest: (req: Record<string, unknown>) => ({
          ...req,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: loginEmails[l++ % loginEmails.length], password: PASSWORD }),
        }),
      } as unknown as autocannon.Request,
    },
  ]
}

async function run(port: number, list: Stream[], seconds: number, rates?: number[]) {
  const results = (await Promise.all(
    list.map((s, i) =>
      autocannon({
        url: `http://127.0.0.1:${port}`,
        connections: s.connections,
        duration: seconds,
        timeout: 10,
        requests: [s.request],
        ...(rates ? { overallRate: Math.max(1, Math.floor(rates[i]!)) } : {}),
      } as autocannon.Options),
    ),
  )) as unknown as autocannon.Result[]
  return results.map((r, i) => ({
    stream: list[i]!.name,
    requests: r.requests.total,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    rps: round(r['2xx'] / seconds),
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
  }))
}

async function main() {
  const started = Date.now()
  const db = await benchDatabase(`soak_${Date.now()}`)
  const secrets = benchSecrets()
  const env = {
    DATABASE_URL: db.url,
    ...secrets,
    ACCESS_TOKEN_TTL: '86400',
    // The soak measures the service, not its brute-force limits (one client IP sends it all).
    RATE_LIMIT_LOGIN_PER_IP: '1000000',
    RATE_LIMIT_REGISTER_PER_IP: '1000000',
    RATE_LIMIT_REFRESH_PER_SESSION: '1000000',
  }
  const config = loadConfig({ ...process.env, ...PROD_ENV, ...env })
  let server: Proc | null = null
  try {
    const sessions = await seedSessions(db.admin, 50_000)
    const accessTokens = signAccessTokens(sessions, 20_000, {
      privateKeyPem: secrets.JWT_PRIVATE_KEY!,
      kid: secrets.JWT_KEY_ID!,
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      ttlSec: 86_400,
    })
    const hash = await new PasswordHasher(config.argon2).hash(PASSWORD)
    const loginEmails = await seedLoginUsers(db.admin, 1000, hash)
    await settle(db.admin)
    const queue = new TokenQueue(sessions.map((s) => s.refreshToken))
    server = await startProc('server', SCRIPTS.server, env)
    const soaked = server
    const list = streams(accessTokens, queue, loginEmails)

    console.log(`calibrating for ${CALIBRATE_SECONDS} s at full load…`)
    const max = await run(soaked.port, list, CALIBRATE_SECONDS)
    const rates = max.map((m) => m.rps * LOAD)
    console.log(max.map((m) => `  max ${m.stream}: ${m.rps}/s`).join('\n'))

    console.log(`soaking for ${SOAK_SECONDS} s at ${LOAD * 100}% of that…`)
    const rss: { atSec: number; rssMiB: number; denylist: number }[] = []
    const t0 = Date.now()
    const sample = async () => {
      const m = await soaked.metrics()
      rss.push({ atSec: round((Date.now() - t0) / 1000), rssMiB: round(m.rss / 2 ** 20), denylist: m.denylistSize })
    }
    await sample()
    const timer = setInterval(() => void sample(), SAMPLE_EVERY_MS)
    const soak = await run(soaked.port, list, SOAK_SECONDS, rates)
    clearInterval(timer)
    await sample()

    const rssValues = rss.map((s) => s.rssMiB)
    const report = {
      settings: { soakSeconds: SOAK_SECONDS, load: LOAD, calibrateSeconds: CALIBRATE_SECONDS, argon2: config.argon2 },
      maxRps: Object.fromEntries(max.map((m) => [m.stream, m.rps])),
      soak,
      errors: soak.reduce((n, s) => n + s.errors + s.timeouts + s.non2xx, 0),
      refreshQueue: { refused: queue.refused, emptyTakes: queue.emptyTakes },
      rss: { startMiB: rssValues[0], maxMiB: Math.max(...rssValues), endMiB: rssValues.at(-1), samples: rss },
      wallSeconds: round((Date.now() - started) / 1000),
    }
    console.log(JSON.stringify({ ...report, rss: { ...report.rss, samples: `${rss.length} samples` } }, null, 2))
    await mkdir('bench/results', { recursive: true })
    const file = `bench/results/soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`
    await writeFile(file, JSON.stringify(report, null, 2))
    console.log(`written to ${file}`)
  } finally {
    await server?.stop()
    await db.stop()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
