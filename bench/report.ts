// Turns the runs into the figures an optimisation is judged on: each path beside its ceiling
// (measured in the same run) as a ratio, with CPU per request, database statements per request
// and memory; then JSON, a terminal table, Markdown and an SVG chart (hand-written: two
// log-scale bar panels, throughput and p99, one row per run).
import type { StartFigures } from './scenarios/start.js'
import type { Measured, Settings } from './scenarios/context.js'
import { BUSY_HOST_CORES } from './scenarios/context.js'
import type { RefreshFigures } from './scenarios/refresh.js'

export interface Meta {
  startedAt: string
  totalSeconds: number
  node: string
  fastify: string
  autocannon: string
  postgres: string
  database: string
  cpus: number
  cpuModel: string
  uvThreadpoolSize: number
  hostBusyCoresBeforeStart: number
  dbPoolSize: number
  logLevel: string
  argon2: { memoryKiB: number; timeCost: number; parallelism: number }
  settings: Settings
}

export interface BenchInput {
  meta: Meta
  runs: Measured[]
  seeding: Record<string, number>
  accessCheck: { headerKeys: string[]; claimKeys: string[] }
  /** npm start to its first answers (BENCH_ONLY=start) */
  start?: StartFigures
}

/** One line of the main table: a figure and the ceiling it is judged against. */
export interface Comparison {
  id: string
  label: string
  ceilingId: string
  /** the ceiling's run: `ceilingId@id` when it was measured in rounds alternating with this figure, else `ceilingId` */
  ceilingRunId: string
  ceilingLabel: string
  instances: number
  rps: number
  p50: number
  p99: number
  ceilingRps: number
  ceilingP99: number
  /** rps / ceilingRps */
  ratio: number
  cpuUsPerRequest: number
  ceilingCpuUsPerRequest: number
  dbStatementsPerRequest: number | null
  rssIdleMiB: number
  rssLoadMiB: number
}

export interface BenchResults extends BenchInput {
  comparisons: Comparison[]
  refresh: Record<string, RefreshFigures & { rps: number; dbStatementsPerRefresh: number | null; walBytesPerRefresh: number | null; postgresCpuMsPerRefresh: number | null; postgresCores: number | null }>
  /** argon2 stays off the event loop: the loop's delay during login vs what one hash would cost it */
  login: {
    rps: number
    dbStatementsPerLogin: number | null
    loopDelayMs: { p50: number; p99: number; max: number } | null
    /** CPU per answer of ceiling C: one argon2id verify and a trivial HTTP exchange */
    hashCpuMs: number
    /** share of time the loop would be blocked if the hashes ran on it */
    wouldBlockShare: number
  } | null
  checks: {
    /** statements during each access run: 0 each, or the access path touched the database */
    accessDbStatements: Record<string, number | null>
    accessDbStatementsAllZero: boolean
    allRequestsOk: boolean
    failures: string[]
    /** runs during which other work on the host used more than a quarter of a core */
    busyHost: string[]
    /** runs measured more than once because other work disturbed them (BENCH_RETRY_BUSY) */
    remeasured: string[]
  }
}

/**
 * The main table: [figure, ceiling]. A figure appears once per ceiling it is judged against;
 * `*` stands for the number of users (BENCH_USERS). Rows whose runs are absent are left out.
 */
const TABLE: [string, string][] = [
  ['me-1', 'ceiling-a'],
  ['me-1-logged', 'ceiling-a'],
  ['me-*', 'ceiling-a'],
  ['me-*', 'ceiling-a2'],
  ['notes-1', 'ceiling-a'],
  ['notes-*', 'ceiling-a'],
  ['notes-*', 'ceiling-a2'],
  ['refresh', 'ceiling-b'],
  ['login', 'ceiling-c'],
  ['me-*-x2', 'ceiling-a-x2'],
  ['refresh-x2', 'ceiling-b'],
]

const ACCESS = /^(me|notes)-/

/** The id of a ceiling's run measured in rounds alternating with the figure `figureId`. */
export const pairedId = (ceilingId: string, figureId: string) => `${ceilingId}@${figureId}`

/**
 * The goals each comparison is held to (issue 14): the ratio to its ceiling at least
 * `ratio`, and p99 under `p99Ms` where given. A comparison with no entry has no goal (the
 * A2 rows show what caching beats; the 2-process rows show scaling out).
 */
export function goalFor(c: { id: string; ceilingId: string; instances: number }): { ratio: number; p99Ms?: number } | null {
  if (c.instances !== 1) return null
  if (c.ceilingId === 'ceiling-a' && /^(me|notes)-1$/.test(c.id)) return { ratio: 0.75 }
  if (c.ceilingId === 'ceiling-a' && /^(me|notes)-\d+$/.test(c.id)) return { ratio: 0.6 }
  if (c.id === 'refresh' && c.ceilingId === 'ceiling-b') return { ratio: 0.5, p99Ms: 50 }
  if (c.id === 'login' && c.ceilingId === 'ceiling-c') return { ratio: 0.9 }
  return null
}

function goalText(c: Comparison): string {
  const g = goalFor(c)
  if (!g) return '–'
  const met = c.ratio >= g.ratio && (g.p99Ms === undefined || c.p99 < g.p99Ms)
  return `≥ ${g.ratio.toFixed(2)}${g.p99Ms !== undefined ? `, p99 < ${g.p99Ms}` : ''} ${met ? '✓' : '✗'}`
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN)

export function buildReport(input: BenchInput): BenchResults {
  const byId = new Map(input.runs.map((r) => [r.id, r]))
  const users = input.meta.settings.accessUsers
  const comparisons: Comparison[] = []
  for (const [figureId, ceilingId] of TABLE) {
    const r = byId.get(figureId.replace('*', String(users)))
    if (!r) continue
    // A ceiling measured in rounds alternating with this figure is the one to judge it by.
    const c = byId.get(pairedId(ceilingId, r.id)) ?? byId.get(ceilingId)
    if (!c) continue
    comparisons.push({
      id: r.id,
      label: r.label,
      ceilingId,
      ceilingRunId: c.id,
      ceilingLabel: c.label,
      instances: r.instances,
      rps: r.load.rps,
      p50: r.load.latencyMs.p50,
      p99: r.load.latencyMs.p99,
      ceilingRps: c.load.rps,
      ceilingP99: c.load.latencyMs.p99,
      ratio: r.load.rps / c.load.rps,
      cpuUsPerRequest: r.server.cpuUsPerRequest,
      ceilingCpuUsPerRequest: c.server.cpuUsPerRequest,
      dbStatementsPerRequest: r.server.dbStatementsPerRequest,
      // several processes: their sum, what the deployment holds
      rssIdleMiB: sum(r.server.rssIdleMiB),
      rssLoadMiB: sum(r.server.rssLoadMiB),
    })
  }

  const refresh: BenchResults['refresh'] = {}
  for (const r of input.runs) {
    const figures = (r as Measured & { refresh?: RefreshFigures }).refresh
    if (!figures) continue
    refresh[r.id] = {
      ...figures,
      rps: r.load.rps,
      dbStatementsPerRefresh: r.server.dbStatementsPerRequest,
      walBytesPerRefresh: r.host.walBytesPerRequest,
      postgresCpuMsPerRefresh: r.host.postgresCpuMs !== null && r.load.ok > 0 ? r.host.postgresCpuMs / r.load.ok : null,
      postgresCores: r.host.postgresCores,
    }
  }

  const loginRun = byId.get('login')
  const cC = byId.get(pairedId('ceiling-c', 'login')) ?? byId.get('ceiling-c')
  const hashCpuMs = cC ? cC.server.cpuUsPerRequest / 1000 : NaN
  const login = loginRun
    ? {
        rps: loginRun.load.rps,
        dbStatementsPerLogin: loginRun.server.dbStatementsPerRequest,
        loopDelayMs: loginRun.server.eventLoopDelayMs,
        hashCpuMs,
        wouldBlockShare: (loginRun.load.rps * hashCpuMs) / 1000,
      }
    : null

  const accessRuns = input.runs.filter((r) => ACCESS.test(r.id))
  const accessDbStatements = Object.fromEntries(accessRuns.map((r) => [r.id, r.server.dbStatements]))
  return {
    ...input,
    comparisons,
    refresh,
    login,
    checks: {
      accessDbStatements,
      accessDbStatementsAllZero: Object.values(accessDbStatements).every((q) => q === 0),
      allRequestsOk: input.runs.every((r) => r.load.non2xx === 0 && r.load.errors === 0 && r.load.timeouts === 0),
      failures: input.runs.flatMap((r) => r.notes.filter((n) => n.startsWith('UNEXPECTED')).map((n) => `${r.id}: ${n}`)),
      busyHost: input.runs
        .map((r) => ({ id: r.id, other: r.host.otherCores ?? 0, steal: r.host.stealCores ?? 0 }))
        .filter((r) => r.other > BUSY_HOST_CORES || r.steal > BUSY_HOST_CORES)
        .map((r) => `${r.id} (${f2(r.other)} cores${r.steal > BUSY_HOST_CORES ? `, ${f2(r.steal)} cores taken by the hypervisor` : ''})`),
      remeasured: input.runs.filter((r) => r.attempts > 1).map((r) => `${r.id} (attempt ${r.attempts} kept)`),
    },
  }
}

// ---- formatting ---------------------------------------------------------------------------

const bad = (n: number | null | undefined): n is null | undefined => n === null || n === undefined || Number.isNaN(n)
const f0 = (n: number | null | undefined) => (bad(n) ? '–' : Math.round(n).toLocaleString('en-US'))
const f1 = (n: number | null | undefined) => (bad(n) ? '–' : n.toFixed(1))
const f2 = (n: number | null | undefined) => (bad(n) ? '–' : n.toFixed(2))
const pct = (n: number | null | undefined) => (bad(n) ? '–' : `${Math.round(n * 100)}%`)
/** a rate: whole numbers once there are enough of them */
const fr = (n: number) => (n < 100 ? f1(n) : f0(n))
/** statements per request: exactly 0 is the access path's promise, so it shows as 0 */
const fq = (n: number | null) => (n === null ? '–' : n === 0 ? '0' : f2(n))
const letter = (ceilingId: string) => ceilingId.replace(/^ceiling-/, '').toUpperCase().replace(/-X(\d)$/, ' ×$1')

type Columns<K extends string> = { key: K; head: string; left?: boolean }[]

function table<K extends string>(cols: Columns<K>, rows: Record<K, string>[]): { text: string; md: string } {
  const all = [Object.fromEntries(cols.map((c) => [c.key, c.head])) as Record<K, string>, ...rows]
  const width = cols.map((c) => max(all.map((r) => r[c.key].length)))
  const line = (r: Record<K, string>) => cols.map((c, i) => (c.left ? r[c.key].padEnd(width[i]!) : r[c.key].padStart(width[i]!))).join('  ')
  const text = [line(all[0]!), width.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
  const md = [
    '| ' + cols.map((c) => c.head).join(' | ') + ' |',
    '|' + cols.map((c) => (c.left ? '---' : '---:')).join('|') + '|',
    ...rows.map((r) => '| ' + cols.map((c) => r[c.key] || ' ').join(' | ') + ' |'),
  ].join('\n')
  return { text, md }
}

function mainTable(r: BenchResults) {
  const cols: Columns<'figure' | 'rps' | 'p99' | 'ceiling' | 'cRps' | 'cP99' | 'ratio' | 'goal' | 'cpu' | 'cCpu' | 'db' | 'rss'> = [
    { key: 'figure', head: 'figure', left: true },
    { key: 'rps', head: 'req/s' },
    { key: 'p99', head: 'p99 ms' },
    { key: 'ceiling', head: 'ceiling', left: true },
    { key: 'cRps', head: 'ceiling req/s' },
    { key: 'cP99', head: 'ceiling p99 ms' },
    { key: 'ratio', head: 'ratio' },
    { key: 'goal', head: 'goal' },
    { key: 'cpu', head: 'CPU µs/req' },
    { key: 'cCpu', head: 'ceiling CPU µs/req' },
    { key: 'db', head: 'DB stmts/req' },
    { key: 'rss', head: 'RSS idle → load MiB' },
  ]
  return table(
    cols,
    r.comparisons.map((c) => ({
      figure: c.label,
      rps: fr(c.rps),
      p99: String(c.p99),
      ceiling: letter(c.ceilingId),
      cRps: fr(c.ceilingRps),
      cP99: String(c.ceilingP99),
      ratio: f2(c.ratio),
      goal: goalText(c),
      cpu: f0(c.cpuUsPerRequest),
      cCpu: f0(c.ceilingCpuUsPerRequest),
      db: fq(c.dbStatementsPerRequest),
      rss: `${f0(c.rssIdleMiB)} → ${f0(c.rssLoadMiB)}`,
    })),
  )
}

function runsTable(r: BenchResults) {
  const cols: Columns<'run' | 'procs' | 'rps' | 'p50' | 'p99' | 'cpu' | 'cores' | 'db' | 'idle' | 'load' | 'loop' | 'bad' | 'other'> = [
    { key: 'run', head: 'run', left: true },
    { key: 'procs', head: 'procs' },
    { key: 'rps', head: 'req/s' },
    { key: 'p50', head: 'p50 ms' },
    { key: 'p99', head: 'p99 ms' },
    { key: 'cpu', head: 'CPU µs/req' },
    { key: 'cores', head: 'cores busy' },
    { key: 'db', head: 'DB stmts/req' },
    { key: 'idle', head: 'RSS idle MiB' },
    { key: 'load', head: 'RSS load MiB' },
    { key: 'loop', head: 'loop p99 ms' },
    { key: 'bad', head: 'non-2xx' },
    { key: 'other', head: 'other load' },
  ]
  const each = (xs: number[], f: (n: number) => string) => xs.map(f).join(' / ')
  return table(
    cols,
    r.runs.map((run) => ({
      run: run.label,
      procs: String(run.instances),
      rps: fr(run.load.rps),
      p50: String(run.load.latencyMs.p50),
      p99: String(run.load.latencyMs.p99),
      cpu: run.server.cpuUsPerRequestByInstance ? `${f0(run.server.cpuUsPerRequest)} (${each(run.server.cpuUsPerRequestByInstance, f0)})` : f0(run.server.cpuUsPerRequest),
      cores: each(run.server.cpuCores, f2),
      db: fq(run.server.dbStatementsPerRequest),
      idle: each(run.server.rssIdleMiB, f0),
      load: each(run.server.rssLoadMiB, f0),
      loop: f1(run.server.eventLoopDelayMs?.p99),
      bad: String(run.load.non2xx + run.load.errors + run.load.timeouts),
      other: f2(run.host.otherCores),
    })),
  )
}

function loginLine(l: NonNullable<BenchResults['login']>): string {
  return (
    `event-loop delay p50 ${f1(l.loopDelayMs?.p50)} ms, p99 ${f1(l.loopDelayMs?.p99)} ms, max ${f1(l.loopDelayMs?.max)} ms at ${fr(l.rps)} logins/s; ` +
    `one argon2id verify costs ceiling C ${f1(l.hashCpuMs)} ms of CPU, so hashing on the loop would take ${pct(l.wouldBlockShare)} of its time ` +
    `and no delay could be under ${f1(l.hashCpuMs)} ms`
  )
}

/** The goal: the first request answered within 1.5 s of `npm start`. */
const START_GOAL_MS = 1500

function startLine(st: StartFigures): string {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
  const worst = Math.max(...st.readyMs)
  return (
    `live after ${f0(median(st.liveMs))} ms (median; slowest ${f0(Math.max(...st.liveMs))} ms), ready after ${f0(median(st.readyMs))} ms ` +
    `(slowest ${f0(worst)} ms); goal ≤ ${START_GOAL_MS} ms ${worst <= START_GOAL_MS ? '✓' : '✗'}`
  )
}

export function textReport(r: BenchResults): string {
  const out = [mainTable(r).text, '', runsTable(r).text, '']
  for (const [id, v] of Object.entries(r.refresh)) {
    out.push(`${id}: ${f2(v.dbStatementsPerRefresh)} statements/refresh, ${f0(v.walBytesPerRefresh)} WAL bytes/refresh, ${f2(v.postgresCpuMsPerRefresh)} ms Postgres CPU/refresh; ${v.everyRequestOwnFamily ? 'every request its own family' : 'FAMILIES CAME ROUND AGAIN'}`)
  }
  if (r.login) out.push(`login: ${f2(r.login.dbStatementsPerLogin)} statements/login; ${loginLine(r.login)}`)
  if (r.start) out.push(`start: ${startLine(r.start)}`)
  out.push(`access path database statements: ${Object.entries(r.checks.accessDbStatements).map(([k, v]) => `${k}=${v}`).join(', ')}`)
  if (r.checks.failures.length) out.push(`PROBLEMS: ${r.checks.failures.join('; ')}`)
  if (r.checks.busyHost.length) out.push(`WARNING, other work on the host during: ${r.checks.busyHost.join(', ')}; those figures are low`)
  out.push(`total ${f0(r.meta.totalSeconds)} s`)
  return out.join('\n')
}

export function markdownReport(r: BenchResults, svgName: string): string {
  const m = r.meta
  const s = m.settings
  const md: string[] = []
  const para = (...lines: string[]) => md.push(lines.join(''), '')
  md.push('# Benchmark report', '')
  para(
    `${m.startedAt}: Node ${m.node}, Fastify ${m.fastify}, autocannon ${m.autocannon}, PostgreSQL ${m.postgres} (${m.database}), `,
    `${m.cpus} × ${m.cpuModel}. ${s.seconds} s per run after ${s.warmupSec} s of warm-up, ${s.connections} connections `,
    `(${s.loginConnections} for login), DB pool ${m.dbPoolSize} per process, UV_THREADPOOL_SIZE ${m.uvThreadpoolSize}, log level ${m.logLevel}. `,
    'Every process (server, host app, ceilings) is plain node on compiled code with NODE_ENV=production, its own port, its logs written to /dev/null, ',
    'and is read through its own GET /metrics before and after each run. ',
    `The load generator (autocannon, in the runner process) shares the machine's cores. Total ${f0(m.totalSeconds)} s.`,
  )
  md.push(`![throughput and p99 per run](${svgName})`, '')
  md.push('## Each figure beside its ceiling', '')
  md.push(mainTable(r).md, '')
  para(
    '*req/s* counts 2xx answers only. *ratio*: req/s over the ceiling\'s. *CPU µs/req*: CPU time (user + system, process_cpu_*_seconds_total) ',
    'of the process(es) under load per 2xx answer. *DB stmts/req*: auth_db_statements_total over the run per answer (– where there is no database). ',
    '*RSS*: process_resident_memory_bytes once started and idle, then the highest seen during the run (summed over processes). ',
    `Ceilings, each a process of its own with the server's Fastify options and log level: **A** a bare GET returning a constant of /auth/me's shape; `,
    '**A2** the same plus one node:crypto Ed25519 `verify` of a token-sized message per request; **B** `BEGIN; UPDATE auth.token_families … WHERE id = $1; COMMIT` ',
    'per request through pg with the server\'s pool, same database; **C** one argon2id verify per request with the server\'s parameters, through the server\'s PasswordHasher (its limit on hashes at once) ',
    `(m=${m.argon2.memoryKiB} KiB, t=${m.argon2.timeCost}, p=${m.argon2.parallelism}). `,
    `The many-tokens runs cycle through ${s.accessUsers} users' tokens; A and A2 are loaded with the same requests. `,
    `Each figure with a goal is judged against a ceiling process kept up beside it and measured in rounds alternating with it (A B B A: four rounds of ${f1(s.seconds / 4)} s each side, login eight, the ceiling's run listed as ceiling-…@figure), so a drift of the machine's speed falls on both alike; the ceilings' own runs above them are measured once, alone. `,
    'The host route is GET /notes on bench/host-app.js, which registers the plugin from the package entry and protects the route with `app.authn.authenticate`; ',
    'the gap between it and /auth/me is what the standalone server\'s hooks (helmet, the shutdown drain) and the hooks on the plugin\'s own routes (CORS, request metrics…) add to the same check. ',
    'The per-IP login limit and the per-session refresh limit are raised to 1 000 000 (one load generator is one client address); the limiter still runs.',
  )
  md.push('## Every run', '')
  md.push(runsTable(r).md, '')
  para(
    '*cores busy*: CPU of each process over the wall time of the run. *loop p99*: event-loop delay inside the process (worst process), ',
    'prom-client\'s nodejs_eventloop_lag_p99_seconds over the run. *other load*: cores\' worth of CPU used during the run by processes that are not the bench\'s ',
    '(its processes, load generator and PostgreSQL); above ~0.25 the figure was disturbed by other work on the machine.',
  )
  md.push('## Access path: no database', '')
  para(
    `Database statements sent during each access run: ${Object.entries(r.checks.accessDbStatements).map(([k, v]) => `${k} **${v}**`).join(', ')}. `,
    'Each access run has a fresh process with `DENYLIST_SYNC_INTERVAL_MS=60000` (the longest allowed), so the periodic denylist catch-up ',
    '(one query per interval, 2/s at the default 500 ms) does not fall inside the run and nothing needs subtracting. ',
    `The tokens are signed by the bench with the deployment key; their header (${r.accessCheck.headerKeys.join(', ')}) and claims `,
    `(${r.accessCheck.claimKeys.join(', ')}) were checked against a token the server issued.`,
  )
  md.push('## Refresh and login in the database', '')
  md.push('| run | req/s | statements / request | WAL bytes / request | Postgres CPU ms / request | Postgres cores busy | server connections | each request its own family |')
  md.push('|---|---:|---:|---:|---:|---:|---:|---|')
  for (const [k, v] of Object.entries(r.refresh)) {
    md.push(
      `| ${k} | ${fr(v.rps)} | ${f2(v.dbStatementsPerRefresh)} | ${f0(v.walBytesPerRefresh)} | ${f2(v.postgresCpuMsPerRefresh)} | ${f2(v.postgresCores)} | ${v.dbConnections} | ` +
        `${v.everyRequestOwnFamily ? `yes (${f0(v.families)} families)` : `no: ${f0(v.families)} families for ${f0(v.tokensTaken)} rotations`} |`,
    )
  }
  const lr = r.runs.find((x) => x.id === 'login')
  if (lr) {
    md.push(
      `| login | ${fr(lr.load.rps)} | ${f2(lr.server.dbStatementsPerRequest)} | ${f0(lr.host.walBytesPerRequest)} | ` +
        `${f2(lr.host.postgresCpuMs !== null && lr.load.ok > 0 ? lr.host.postgresCpuMs / lr.load.ok : null)} | ${f2(lr.host.postgresCores)} | – | – |`,
    )
  }
  md.push('')
  para(
    `Database: ${f0(r.seeding.families)} token families and ${f0(r.seeding.refreshTokens)} refresh tokens during the refresh runs `,
    `(${f0(r.seeding.fillerFamilies)} filler families generated in SQL in ${f1(r.seeding.fillerSeconds)} s, `,
    `+ ${f1(r.seeding.settleSeconds)} s VACUUM ANALYZE and CHECKPOINT; ${f0(s.refreshFamilies)} with known tokens, half for each refresh run). `,
    'The same VACUUM ANALYZE and CHECKPOINT follow each group of refresh runs, so that autovacuum clearing their dead rows does not run, and count, during the login or start runs after them.',
  )
  if (r.login) {
    md.push('## Login: argon2 off the event loop', '')
    para(
      `Inside the server during the login run: ${loginLine(r.login)}. What delay remains is the operating system sharing `,
      `${m.cpus} cores between the event loop, ${m.uvThreadpoolSize} hashing threads and the load generator.`,
    )
  }
  if (r.start) {
    md.push('## Start: `npm start` to its first answer', '')
    para(
      `\`npm start\` spawned as a user runs it (npm, then \`exec node\`), on the bench's database, already migrated, ${r.start.liveMs.length} times: `,
      `${startLine(r.start)}. Live is the first answer of GET /health/live; ready the first 200 of GET /health/ready `,
      '(database reachable, every migration applied). Polled every 5 ms.',
    )
  }
  const x2 = r.runs.filter((x) => x.instances > 1)
  if (x2.length) {
    md.push('## 2 processes', '')
    para(
      'Two processes of the same kind, each on its own port, the load generator splitting its connections between them (as a load balancer would; ',
      'each process is scraped on its own /metrics). CPU µs per request of each process, over its own answers: ',
      x2.map((x) => `${x.label}: ${(x.server.cpuUsPerRequestByInstance ?? []).map(f0).join(' / ')} µs`).join('; '),
      `. On a ${m.cpus}-core machine the second process can only take what the first and the load generator leave. See docs/scaling.md.`,
    )
  }
  if (r.checks.failures.length) para(`**Problems:** ${r.checks.failures.join('; ')}`)
  if (r.checks.remeasured.length) para(`Measured again because other work on the machine disturbed the first attempt (BENCH_RETRY_BUSY): ${r.checks.remeasured.join(', ')}.`)
  if (r.checks.busyHost.length) para(`**Other work on the host** during ${r.checks.busyHost.join(', ')}: those figures are lower than this machine allows.`)
  return md.join('\n')
}

// ---- SVG ----------------------------------------------------------------------------------

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function svgChart(r: BenchResults): string {
  const bars = r.runs.map((run) => ({ label: run.label, rps: run.load.rps, p99: run.load.latencyMs.p99, ceiling: run.id.startsWith('ceiling') }))
  const rowH = 22
  const top = 72
  const labelW = 360
  const panelW = 330
  const gap = 60
  const width = labelW + panelW * 2 + gap + 30
  const height = top + bars.length * rowH + 40
  const logScale = (values: number[]) => {
    // one decade below the smallest value when it sits exactly on a decade, so its bar shows
    const min = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(...values.filter((v) => v > 0)))) - 1e-9))
    const max = Math.pow(10, Math.ceil(Math.log10(Math.max(1, ...values))))
    return { min, max, x: (v: number) => (panelW * (Math.log10(Math.max(v, min)) - Math.log10(min))) / (Math.log10(max) - Math.log10(min)) }
  }
  const sr = logScale(bars.map((b) => b.rps))
  // p99 of 0 ms (autocannon rounds to whole ms) shows as the axis' smallest value
  const sp = logScale(bars.map((b) => Math.max(b.p99, 0.5)))
  const x1 = labelW
  const x2 = labelW + panelW + gap
  const o: string[] = []
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`)
  o.push(`<rect width="100%" height="100%" fill="#fff"/>`)
  o.push(`<text x="10" y="20" font-size="15" font-weight="600">Throughput and p99 latency per run (log scales; grey = ceiling)</text>`)
  o.push(`<text x="10" y="38" fill="#555">${esc(`${r.meta.startedAt}, ${r.meta.cpus} cores, ${r.meta.settings.seconds} s per run, ${r.meta.settings.connections} connections`)}</text>`)
  const axis = (x0: number, s: { min: number; max: number; x: (v: number) => number }, title: string) => {
    o.push(`<text x="${x0}" y="${top - 6}" font-weight="600">${title}</text>`)
    for (let v = s.min; v <= s.max * 1.0001; v *= 10) {
      const x = x0 + s.x(v)
      o.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + bars.length * rowH}" stroke="#ddd"/>`)
      o.push(`<text x="${x}" y="${top + bars.length * rowH + 14}" text-anchor="middle" fill="#555">${v >= 1 ? v.toLocaleString('en-US') : v}</text>`)
    }
  }
  axis(x1, sr, 'requests/s (2xx)')
  axis(x2, sp, 'p99 latency, ms')
  bars.forEach((b, i) => {
    const y = top + i * rowH
    const fill = b.ceiling ? '#9aa0a6' : '#1a73e8'
    const fill2 = b.ceiling ? '#c0c4c8' : '#e8710a'
    o.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`)
    const w1 = Math.max(1, sr.x(b.rps))
    o.push(`<rect x="${x1}" y="${y + 4}" width="${w1.toFixed(1)}" height="${rowH - 8}" fill="${fill}"/>`)
    o.push(`<text x="${x1 + w1 + 4}" y="${y + 15}" fill="#222">${b.rps < 100 ? b.rps.toFixed(1) : Math.round(b.rps).toLocaleString('en-US')}</text>`)
    const w2 = Math.max(1, sp.x(Math.max(b.p99, 0.5)))
    o.push(`<rect x="${x2}" y="${y + 4}" width="${w2.toFixed(1)}" height="${rowH - 8}" fill="${fill2}"/>`)
    o.push(`<text x="${x2 + w2 + 4}" y="${y + 15}" fill="#222">${b.p99 < 10 ? b.p99.toFixed(1) : Math.round(b.p99)}</text>`)
  })
  o.push('</svg>')
  return o.join('\n') + '\n'
}
