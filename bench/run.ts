// npm run bench: each figure beside its ceiling, both measured in the same run on the same
// machine, every process started the same way (plain node on compiled code, NODE_ENV=production,
// default log level) and read the same way (its GET /metrics before and after the run).
//
//   GET /auth/me, one token over and over              vs A   bare route returning a constant
//     and again with LOG_REQUESTS=true (what request logging costs)
//   GET /auth/me, 200 users' tokens in turn            vs A, and A2 (A + one raw Ed25519 verify)
//   GET /notes on a host app (authn.authenticate),
//     one token and 200 users' tokens                  vs A / A2
//   POST /auth/refresh, each request its own family    vs B   BEGIN; UPDATE 1 row; COMMIT via pg
//   POST /auth/login                                   vs C   argon2id verify, same parameters
//     (both up at once, measured in alternating rounds, 2 × BENCH_SECONDS each)
//   then GET /auth/me (200 tokens) and refresh on 2 processes, beside ceiling A on 2
//
// Per run: 2xx/s, p50/p99, server CPU µs per request, database statements per request, RSS idle
// and under load, event-loop delay, and how much other work the machine did meanwhile.
//
// Settings (environment):
//   BENCH_SECONDS   measured seconds per run (default 10)     BENCH_WARMUP   warm-up seconds (2)
//   BENCH_CONNECTIONS  autocannon connections (32)            BENCH_LOGIN_CONNECTIONS (8)
//   BENCH_FAMILIES  token families in the database during refresh and ceiling B (1000000)
//   BENCH_REFRESH_FAMILIES  of those, families with a known token, split between the 1- and
//                   2-process refresh runs (100000): each request rotates a family of its own
//   BENCH_USERS     users whose tokens the "many tokens" runs cycle through (200)
//   BENCH_SCALING=0 leave out the 2-process runs             BENCH_SMOKE=1  tiny data, 1 s runs
//   BENCH_ONLY      some of the groups access,refresh,login,scaling,start (default: all), for a quick
//                   look at one path while working on it; a report of all of them is the one to keep
//   BENCH_CPU_PROFILE_DIR  every measured process writes a V8 CPU profile (.cpuprofile) there
//   BENCH_OUT       output folder (bench/results)             BENCH_NAME     file name (bench-<time>)
//   BENCH_RETRY_BUSY=n  measure a run again (up to n times) when other work on the machine
//                   disturbed it, keeping the least disturbed attempt (default 0)
//   DATABASE_URL    use that server instead of the embedded one in .data/bench-pg
// The processes inherit the rest of the environment (UV_THREADPOOL_SIZE, DB_POOL_SIZE, ARGON2_*).
import { mkdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { loadConfig } from '../dist/server/config.js'
import { PasswordHasher } from '../dist/auth/password.js'
import { benchDatabase } from './lib/database.js'
import { benchSecrets } from './lib/server.js'
import { seedSessions, type SeededSession } from './lib/seed.js'
import { startTimes, type StartFigures } from './scenarios/start.js'
import { familyCount, seedFillerFamilies, seedLoginUsers, settle } from './lib/bulk.js'
import { decodeJwt, signAccessTokens } from './lib/access-tokens.js'
import { findPostmaster, hostDelta, hostSnapshot, machine } from './lib/host.js'
import { PROD_ENV } from './lib/proc.js'
import { deploy, type Ctx, type Measured, type Settings } from './scenarios/context.js'
import { accessCeiling, accessRun } from './scenarios/access.js'
import { ceilingB, deployCeilingB, refreshRun } from './scenarios/refresh.js'
import { loginAgainstCeilingC } from './scenarios/login.js'
import { buildReport, textReport, markdownReport, svgChart, type BenchResults } from './report.js'

function readSettings(): Settings {
  const smoke = process.env.BENCH_SMOKE === '1'
  const num = (name: string, fallback: number) => {
    const raw = process.env[name]
    if (raw === undefined || raw === '') return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`)
    return n
  }
  const refreshFamilies = num('BENCH_REFRESH_FAMILIES', smoke ? 2_000 : 100_000)
  return {
    smoke,
    seconds: num('BENCH_SECONDS', smoke ? 1 : 10),
    warmupSec: num('BENCH_WARMUP', smoke ? 0 : 2),
    connections: num('BENCH_CONNECTIONS', 32),
    loginConnections: num('BENCH_LOGIN_CONNECTIONS', 8),
    families: Math.max(refreshFamilies, num('BENCH_FAMILIES', smoke ? 5_000 : 1_000_000)),
    refreshFamilies,
    accessUsers: Math.max(1, num('BENCH_USERS', 200)),
    loginUsers: smoke ? 100 : 2_000,
    idleMs: smoke ? 200 : 1_000,
    scaling: process.env.BENCH_SCALING !== '0',
    retryBusy: num('BENCH_RETRY_BUSY', 0),
    only: onlyGroups(process.env.BENCH_ONLY),
  }
}

const GROUPS = ['access', 'refresh', 'login', 'scaling', 'start'] as const
type Group = (typeof GROUPS)[number]

function onlyGroups(raw: string | undefined): ReadonlySet<Group> {
  if (raw === undefined || raw.trim() === '') return new Set(GROUPS)
  const named = raw.split(',').map((g) => g.trim())
  const unknown = named.filter((g) => !(GROUPS as readonly string[]).includes(g))
  if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown group ${unknown.join(', ')} (known: ${GROUPS.join(', ')})`)
  return new Set(named as Group[])
}

const PASSWORD = 'correct horse battery staple'
// The load generator is one client address, and the refresh runs rotate families far faster
// than a person would: the per-IP login limit and the per-session refresh limit, which exist
// for real clients, would answer 429. They are raised, not removed, so the limiter's own cost
// stays in the figures.
const LIFTED_LIMITS = { RATE_LIMIT_LOGIN_PER_IP: '1000000', RATE_LIMIT_REFRESH_PER_SESSION: '1000000' }
const t0 = performance.now()
const elapsed = () => ((performance.now() - t0) / 1000).toFixed(0).padStart(4)
const log = (msg: string) => console.log(`[${elapsed()} s] ${msg}`)

async function main() {
  const settings = readSettings()
  const startedAt = new Date()
  log(`bench: ${settings.seconds} s per run (+${settings.warmupSec} s warm-up), ${settings.connections} connections${settings.smoke ? ', SMOKE mode' : ''}`)
  // Other work on the machine lowers every figure; say so up front (and per run, below).
  const q0 = await hostSnapshot()
  await new Promise((r) => setTimeout(r, 1000))
  const idleBusyCores = hostDelta(q0, await hostSnapshot()).hostBusyCores
  if (idleBusyCores > 0.2) log(`WARNING: the machine is already busy (${idleBusyCores.toFixed(2)} cores) before the bench starts; figures will be low`)
  const db = await benchDatabase()
  const secrets = benchSecrets()
  const env = { DATABASE_URL: db.url, ...secrets, ...LIFTED_LIMITS }
  // What the processes will resolve from the same environment (argon2 cost, issuer, pool).
  let config: ReturnType<typeof loadConfig>
  try {
    config = loadConfig({ ...process.env, ...PROD_ENV, ...env })
  } catch (err) {
    await db.stop() // or the embedded server outlives the run
    throw err
  }
  const ctx: Ctx = {
    settings,
    db,
    env,
    log,
    postmaster: await findPostmaster(db.admin),
    signing: {
      privateKeyPem: secrets.JWT_PRIVATE_KEY!,
      kid: secrets.JWT_KEY_ID!,
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      ttlSec: config.jwt.accessTtlSec,
    },
  }
  const runs: Measured[] = []
  const seeding: Record<string, number> = {}
  let accessCheck: Awaited<ReturnType<typeof checkAccessPath>>
  let pgVersion = ''
  let start: StartFigures | undefined
  try {
    pgVersion = (await db.admin.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v

    // ---- data ---------------------------------------------------------------------------
    log(`data: ${settings.accessUsers} users with a session each, ${settings.families} token families (${settings.refreshFamilies} with known tokens), ${settings.loginUsers} login users`)
    let t = performance.now()
    const users = await seedSessions(db.admin, settings.accessUsers, { distinctUsers: true })
    const known = await seedSessions(db.admin, settings.refreshFamilies)
    seeding.knownSeconds = (performance.now() - t) / 1000
    t = performance.now()
    const filler = Math.max(0, settings.families - (await familyCount(db.admin)))
    await seedFillerFamilies(db.admin, filler)
    seeding.fillerFamilies = filler
    seeding.fillerSeconds = (performance.now() - t) / 1000
    const emails = await seedLoginUsers(db.admin, settings.loginUsers, await new PasswordHasher(config.argon2).hash(PASSWORD))
    t = performance.now()
    await settle(db.admin)
    seeding.settleSeconds = (performance.now() - t) / 1000
    seeding.families = await familyCount(db.admin)
    seeding.refreshTokens = Number((await db.admin.query<{ n: string }>('SELECT count(*) AS n FROM auth.refresh_tokens')).rows[0]!.n)
    log(`  ${seeding.families} families in ${(seeding.knownSeconds + seeding.fillerSeconds).toFixed(1)} s (+${seeding.settleSeconds.toFixed(1)} s VACUUM ANALYZE, CHECKPOINT)`)
    // Signed afresh for each run, so no run outlives their lifetime (ACCESS_TOKEN_TTL).
    const tokens = () => signAccessTokens(users, users.length, ctx.signing)
    // Disjoint halves of the known families: a run never meets a token another run spent.
    const half = Math.floor(known.length / 2)
    const refreshTokens = [known.slice(0, half), known.slice(half)].map((k) => k.map((s) => s.refreshToken))

    // ---- access path ----------------------------------------------------------------------
    accessCheck = await checkAccessPath(ctx, users[0]!, tokens()[0]!, emails[0]!)
    const n = users.length
    const only = settings.only
    if (only.has('access')) {
      log('access path')
      runs.push(await accessCeiling(ctx, 'A', tokens()))
      runs.push(await accessCeiling(ctx, 'A2', tokens()))
      const one = () => tokens().slice(0, 1)
      // Each run against a ceiling A of its own, measured in alternating rounds with it.
      const a = await deploy(ctx, 'ceilingA')
      try {
        runs.push(...(await accessRun(ctx, { id: 'me-1', label: 'GET /auth/me, one token', kind: 'server', path: '/auth/me', tokens: one() }, a)))
        // Request logging is off by default in production; this is what turning it on costs.
        runs.push(
          ...(await accessRun(ctx, { id: 'me-1-logged', label: 'GET /auth/me, one token, LOG_REQUESTS=true', kind: 'server', path: '/auth/me', tokens: one(), env: { LOG_REQUESTS: 'true' } }, a)),
        )
        runs.push(...(await accessRun(ctx, { id: `me-${n}`, label: `GET /auth/me, ${n} users' tokens`, kind: 'server', path: '/auth/me', tokens: tokens() }, a)))
        runs.push(...(await accessRun(ctx, { id: 'notes-1', label: 'host GET /notes, one token', kind: 'hostApp', path: '/notes', tokens: one() }, a)))
        runs.push(...(await accessRun(ctx, { id: `notes-${n}`, label: `host GET /notes, ${n} users' tokens`, kind: 'hostApp', path: '/notes', tokens: tokens() }, a)))
      } finally {
        await a.stop()
      }
    }

    // ---- refresh and login ----------------------------------------------------------------
    if (only.has('refresh')) {
      log('refresh')
      runs.push(await ceilingB(ctx, half))
      const b = await deployCeilingB(ctx, half)
      try {
        runs.push(...(await refreshRun(ctx, { id: 'refresh', label: 'POST /auth/refresh, own family each', tokens: refreshTokens[0]! }, b)))
      } finally {
        await b.stop()
      }
    }
    // The refresh runs leave dead rows in tables of a million rows, and autovacuum would clear
    // them during whatever runs next: in a full run it was counted as the logins' Postgres CPU
    // (1.87 ms per login, against 1.37 ms in a login-only run) and took cores from both sides.
    const settleAfterRefreshes = async () => {
      const t = performance.now()
      await settle(db.admin)
      log(`  VACUUM ANALYZE, CHECKPOINT after the refresh runs: ${((performance.now() - t) / 1000).toFixed(1)} s`)
    }
    if (only.has('refresh')) await settleAfterRefreshes()
    if (only.has('login')) {
      log('login')
      runs.push(...(await loginAgainstCeilingC(ctx, emails, PASSWORD)))
    }

    // ---- 2 processes ----------------------------------------------------------------------
    if (settings.scaling && only.has('scaling')) {
      log('2 processes, each on its own port, connections split between them')
      // (smoke mode runs only the one that exercises a path the others do not: several
      // processes of the server under one load)
      if (!settings.smoke) runs.push(await accessCeiling(ctx, 'A', tokens(), 2))
      runs.push(...(await accessRun(ctx, { id: `me-${n}-x2`, label: `GET /auth/me, ${n} users' tokens, 2 processes`, kind: 'server', path: '/auth/me', tokens: tokens(), instances: 2 })))
      if (!settings.smoke) {
        runs.push(...(await refreshRun(ctx, { id: 'refresh-x2', label: 'POST /auth/refresh, own family each, 2 processes', tokens: refreshTokens[1]!, instances: 2 })))
        await settleAfterRefreshes()
      }
    }

    // ---- start ----------------------------------------------------------------------------
    if (only.has('start')) {
      log('npm start on the migrated database, to its first answers')
      start = await startTimes(ctx, settings.smoke ? 1 : 5)
    }
  } finally {
    await db.stop()
  }

  const results: BenchResults = buildReport({
    meta: {
      startedAt: startedAt.toISOString(),
      totalSeconds: (performance.now() - t0) / 1000,
      node: process.version,
      fastify: pkgVersion('fastify'),
      autocannon: pkgVersion('autocannon'),
      postgres: pgVersion,
      database: process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded (.data/bench-pg)',
      ...machine(),
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
      hostBusyCoresBeforeStart: idleBusyCores,
      dbPoolSize: config.db.poolSize,
      logLevel: config.logLevel,
      argon2: config.argon2,
      settings,
    },
    runs,
    seeding,
    accessCheck: accessCheck!,
    start,
  })
  const out = process.env.BENCH_OUT ?? join('bench', 'results')
  const name = process.env.BENCH_NAME ?? `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}`
  await mkdir(out, { recursive: true })
  await writeFile(join(out, `${name}.json`), JSON.stringify(results, null, 2) + '\n')
  await writeFile(join(out, `${name}.md`), markdownReport(results, `${name}.svg`))
  await writeFile(join(out, `${name}.svg`), svgChart(results))
  console.log('\n' + textReport(results))
  log(`wrote ${join(out, name)}.{json,md,svg}`)
}

/**
 * The access runs use tokens signed here; prove they are exactly what the server issues (header
 * and claim names) and that the server accepts them as the user they name.
 */
async function checkAccessPath(ctx: Ctx, session: SeededSession, token: string, email: string) {
  const dep = await deploy(ctx, 'server')
  try {
    const base = `http://127.0.0.1:${dep.ports[0]}`
    const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) })
    if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`)
    const real = decodeJwt(((await login.json()) as { access_token: string }).access_token)
    const ours = decodeJwt(token)
    const same = (a: object, b: object) => JSON.stringify(Object.keys(a).sort()) === JSON.stringify(Object.keys(b).sort())
    if (!same(real.header, ours.header) || !same(real.payload, ours.payload) || real.header.typ !== ours.header.typ || real.header.kid !== ours.header.kid) {
      throw new Error(`bench tokens differ from issued ones: ${JSON.stringify({ real, ours })}`)
    }
    const me = await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${token}` } })
    const body = (await me.json()) as { id: string; email?: string; session_id: string }
    // No email: access tokens carry none unless ACCESS_TOKEN_EMAIL is on, and /me answers from the token.
    if (me.status !== 200 || body.id !== session.userId || body.session_id !== session.familyId || body.email !== undefined) {
      throw new Error(`/auth/me refused a bench token: ${me.status} ${JSON.stringify(body)}`)
    }
    ctx.log('  bench tokens match issued ones and are accepted')
    return { headerKeys: Object.keys(real.header).sort(), claimKeys: Object.keys(real.payload).sort() }
  } finally {
    await dep.stop()
  }
}

function pkgVersion(name: string): string {
  try {
    return (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
