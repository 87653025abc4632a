// Turns the runs into the figures the issue asks for: each path beside its ceiling as a ratio,
// cost vs data size, 1 vs 2 instances; then JSON, a terminal table, Markdown and an SVG chart
// (hand-written: two log-scale bar panels, throughput and p99, one row per scenario).
import type { Measured } from './scenarios/context.js'
import type { CeilingC } from './scenarios/login.js'
import { BUSY_HOST_CORES, type Settings } from './scenarios/context.js'

export interface Comparison {
  id: string
  label: string
  dataset: string | null
  instances: number
  rps: number
  p50: number
  p99: number
  ceilingId: string
  ceilingLabel: string
  ceilingRps: number
  ratio: number
}

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
  argon2: { memoryKiB: number; timeCost: number; parallelism: number }
  settings: Settings
}

export interface BenchInput {
  meta: Meta
  runs: Measured[]
  ceilingC: CeilingC
  seeding: Record<string, number>
  catchUp: { queries: number; meanMs: number; postgresCpuMsPerQuery: number | null; perInstancePerSec: number }
  accessCheck: { headerKeys: string[]; claimKeys: string[]; cookieName: string; issuedToken?: string }
}

export interface BenchResults extends BenchInput {
  comparisons: Comparison[]
  dataSize: Record<string, { '1k': number; '1M': number; ratio1MTo1k: number; p99_1k: number; p99_1M: number }>
  scaling: {
    me: ScalingRow[]
    refresh: ScalingRow[]
    meSpeedup2vs1: { cluster: number; direct: number; ceilingA: number }
    refreshSpeedup2vs1: number
  }
  refresh: Record<
    string,
    {
      rps: number
      dbQueriesPerRefresh: number
      walBytesPerRefresh: number | null
      postgresCpuMsPerRefresh: number | null
      postgresCores: number | null
      dbConnections: number
      everyRequestDistinctFamily: boolean
      families: number
    }
  >
  /** argon2 stays off the event loop: the loop's delay during login vs what one hash would cost it */
  login: {
    rps: number
    loopDelayMs: { p50: number; p99: number; max: number } | null
    /** CPU time of one argon2id hash (ceiling C) */
    hashCpuMs: number
    /** share of time the loop would be blocked if the hashes ran on it */
    wouldBlockShare: number
  } | null
  checks: {
    meDbQueries: Record<string, number | null>
    meDbQueriesAllZero: boolean
    allRequestsOk: boolean
    failures: string[]
    /** runs during which other work on the host used more than a quarter of a core */
    busyHost: string[]
    /** runs measured more than once because other work disturbed them (BENCH_RETRY_BUSY) */
    remeasured: string[]
  }
}

interface ScalingRow {
  id: string
  mode: string
  instances: number
  rps: number
  p50: number
  p99: number
  cpuMsPer10k: number
  cpuMsPer10kByInstance: number[] | null
  cpuCoresByInstance: number[]
  primaryCpuMs: number | null
  hostBusy: number
  generatorCores: number
  postgresCores: number | null
}

export function buildReport(input: BenchInput): BenchResults {
  const byId = new Map(input.runs.map((r) => [r.id, r]))
  const get = (id: string) => byId.get(id)
  const comparisons: Comparison[] = []
  for (const r of input.runs) {
    if (!r.ceilingId) continue
    const c = r.ceilingId === 'ceiling-c' ? null : get(r.ceilingId)
    const ceilingRps = r.ceilingId === 'ceiling-c' ? input.ceilingC.hashesPerSec : c!.load.rps
    comparisons.push({
      id: r.id,
      label: r.label,
      dataset: r.dataset,
      instances: r.instances,
      rps: r.load.rps,
      p50: r.load.latencyMs.p50,
      p99: r.load.latencyMs.p99,
      ceilingId: r.ceilingId,
      ceilingLabel: r.ceilingId === 'ceiling-c' ? input.ceilingC.label : c!.label,
      ceilingRps,
      ratio: r.load.rps / ceilingRps,
    })
  }

  const pair = (a: string, b: string) => {
    const x = get(a)
    const y = get(b)
    if (!x || !y) return null
    return { '1k': x.load.rps, '1M': y.load.rps, ratio1MTo1k: y.load.rps / x.load.rps, p99_1k: x.load.latencyMs.p99, p99_1M: y.load.latencyMs.p99 }
  }
  const dataSize: BenchResults['dataSize'] = {}
  for (const [k, a, b] of [
    ['GET /me Bearer', 'me-bearer-1k', 'me-bearer-1M'],
    ['GET /me cookie', 'me-cookie-1k', 'me-cookie-1M'],
    ['POST /auth/refresh', 'refresh-1k', 'refresh-1M'],
    ['ceiling B', 'ceiling-b-1k', 'ceiling-b-1M'],
  ] as const) {
    const p = pair(a, b)
    if (p) dataSize[k] = p
  }

  const row = (id: string, mode: string): ScalingRow | null => {
    const r = get(id)
    if (!r) return null
    return {
      id,
      mode,
      instances: r.instances,
      rps: r.load.rps,
      p50: r.load.latencyMs.p50,
      p99: r.load.latencyMs.p99,
      cpuMsPer10k: r.server.cpuMsPer10k,
      cpuMsPer10kByInstance: r.server.cpuMsPer10kByInstance,
      cpuCoresByInstance: r.server.cpuCores,
      primaryCpuMs: r.server.primaryCpuMs,
      hostBusy: r.host.hostBusy,
      generatorCores: r.host.generatorCores,
      postgresCores: r.host.postgresCores,
    }
  }
  const nn = <T>(x: T | null): x is T => x !== null
  const me = [
    row('ceiling-a', 'ceiling A, 1 process'),
    row('ceiling-a-x2', 'ceiling A, 2 processes, direct'),
    row('me-bearer-1M', '1 process, direct'),
    row('scale-me-cluster-1', 'node:cluster x1'),
    row('scale-me-cluster-2', 'node:cluster x2'),
    row('scale-me-direct-2', '2 processes, direct'),
  ].filter(nn)
  const refresh = [
    row('refresh-1M', '1 process, direct'),
    row('scale-refresh-cluster-1', 'node:cluster x1'),
    row('scale-refresh-cluster-2', 'node:cluster x2'),
  ].filter(nn)
  const rps = (id: string) => get(id)?.load.rps ?? NaN

  const refreshFigures: BenchResults['refresh'] = {}
  for (const r of input.runs) {
    const extra = (r as Measured & { refresh?: Record<string, number | boolean> }).refresh
    if (!extra) continue
    refreshFigures[r.id] = {
      rps: r.load.rps,
      dbQueriesPerRefresh: extra.dbQueriesPerRefresh as number,
      walBytesPerRefresh: r.host.walBytesPerRequest,
      postgresCpuMsPerRefresh: r.host.postgresCpuMs !== null && r.load.ok > 0 ? r.host.postgresCpuMs / r.load.ok : null,
      postgresCores: r.host.postgresCores,
      dbConnections: extra.dbConnections as number,
      everyRequestDistinctFamily: extra.everyRequestDistinctFamily as boolean,
      families: extra.families as number,
    }
  }

  const loginRun = get('login')
  const hashCpuMs = input.ceilingC.cpuMs / input.ceilingC.hashes
  const login = loginRun
    ? { rps: loginRun.load.rps, loopDelayMs: loginRun.server.eventLoopDelayMs, hashCpuMs, wouldBlockShare: (loginRun.load.rps * hashCpuMs) / 1000 }
    : null

  const meRuns = input.runs.filter((r) => r.id.includes('me-') && !r.id.startsWith('ceiling'))
  const meDbQueries = Object.fromEntries(meRuns.map((r) => [r.id, r.server.dbQueries]))
  const failures = input.runs.flatMap((r) => r.notes.filter((n) => n.startsWith('UNEXPECTED')).map((n) => `${r.id}: ${n}`))
  return {
    ...input,
    accessCheck: { headerKeys: input.accessCheck.headerKeys, claimKeys: input.accessCheck.claimKeys, cookieName: input.accessCheck.cookieName },
    comparisons,
    dataSize,
    scaling: {
      me,
      refresh,
      meSpeedup2vs1: {
        cluster: rps('scale-me-cluster-2') / rps('scale-me-cluster-1'),
        direct: rps('scale-me-direct-2') / rps('me-bearer-1M'),
        ceilingA: rps('ceiling-a-x2') / rps('ceiling-a'),
      },
      refreshSpeedup2vs1: rps('scale-refresh-cluster-2') / rps('scale-refresh-cluster-1'),
    },
    refresh: refreshFigures,
    login,
    checks: {
      meDbQueries,
      meDbQueriesAllZero: Object.values(meDbQueries).every((q) => q === 0),
      allRequestsOk: input.runs.every((r) => r.load.non2xx === 0 && r.load.errors === 0 && r.load.timeouts === 0),
      failures,
      busyHost: [
        ...input.runs.map((r) => ({ id: r.id, other: r.host.otherCores, steal: r.host.stealCores ?? 0 })),
        { id: 'ceiling-c', other: input.ceilingC.otherCores, steal: 0 },
      ]
        .filter((r) => (r.other ?? 0) > BUSY_HOST_CORES || r.steal > BUSY_HOST_CORES)
        .map((r) => `${r.id} (${f2(r.other)} cores${r.steal > BUSY_HOST_CORES ? `, ${f2(r.steal)} cores taken by the hypervisor` : ''})`),
      remeasured: [...input.runs, input.ceilingC].filter((r) => r.attempts > 1).map((r) => `${r.id} (attempt ${r.attempts} kept)`),
    },
  }
}

// ---- formatting ---------------------------------------------------------------------------

const f0 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '–' : Math.round(n).toLocaleString('en-US'))
const f1 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(1))
const f2 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(2))
const pct = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '–' : `${Math.round(n * 100)}%`)

interface Line {
  scenario: string
  data: string
  inst: string
  rps: string
  p50: string
  p99: string
  ceiling: string
  ceilingRps: string
  ratio: string
  cpu: string
  db: string
  bad: string
  loop: string
  other: string
}

const HEAD: Line = {
  scenario: 'scenario',
  data: 'data',
  inst: 'inst',
  rps: 'req/s',
  p50: 'p50 ms',
  p99: 'p99 ms',
  ceiling: 'ceiling',
  ceilingRps: 'ceiling/s',
  ratio: 'ratio',
  cpu: 'CPU ms/10k',
  db: 'DB queries',
  bad: 'non-2xx',
  loop: 'loop p99 ms',
  other: 'other load',
}

function lines(r: BenchResults): Line[] {
  const out: Line[] = []
  const cmp = new Map(r.comparisons.map((c) => [c.id, c]))
  const letter = (id: string) => (id.startsWith('ceiling-a') ? (id === 'ceiling-a' ? 'A' : 'A x2') : id.startsWith('ceiling-b') ? `B ${id.slice(10)}` : 'C')
  for (const run of r.runs) {
    if (run.id === 'login') {
      const c = r.ceilingC
      out.push({
        scenario: c.label,
        data: '–',
        inst: '1',
        rps: f1(c.hashesPerSec),
        p50: f1(c.latencyMs.p50),
        p99: f1(c.latencyMs.p99),
        ceiling: '',
        ceilingRps: '',
        ratio: '',
        cpu: f0((c.cpuMs / c.hashes) * 10_000),
        db: '–',
        bad: '0',
        loop: '–',
        other: f2(c.otherCores),
      })
    }
    const c = cmp.get(run.id)
    out.push({
      scenario: run.label,
      data: run.dataset ?? '–',
      inst: String(run.instances),
      rps: run.load.rps < 100 ? f1(run.load.rps) : f0(run.load.rps),
      p50: String(run.load.latencyMs.p50),
      p99: String(run.load.latencyMs.p99),
      ceiling: c ? letter(c.ceilingId) : '',
      ceilingRps: c ? (c.ceilingRps < 100 ? f1(c.ceilingRps) : f0(c.ceilingRps)) : '',
      ratio: c ? f2(c.ratio) : '',
      cpu: f0(run.server.cpuMsPer10k),
      db: run.server.dbQueries === null ? '–' : String(run.server.dbQueries),
      bad: String(run.load.non2xx + run.load.errors + run.load.timeouts),
      loop: f1(run.server.eventLoopDelayMs?.p99),
      other: f2(run.host.otherCores),
    })
  }
  return out
}

const COLS = Object.keys(HEAD) as (keyof Line)[]

export function textReport(r: BenchResults): string {
  const rows = [HEAD, ...lines(r)]
  const width = COLS.map((k) => Math.max(...rows.map((row) => row[k].length)))
  const fmt = (row: Line) => COLS.map((k, i) => (i === 0 ? row[k].padEnd(width[i]!) : row[k].padStart(width[i]!))).join('  ')
  const out = [fmt(rows[0]!), width.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)]
  out.push('')
  out.push('ratios (figure / its ceiling, same run, same machine):')
  for (const c of r.comparisons) {
    out.push(`  ${c.label}${c.dataset ? ` [${c.dataset}]` : ''}: ${c.rps < 100 ? f1(c.rps) : f0(c.rps)} / ${c.ceilingRps < 100 ? f1(c.ceilingRps) : f0(c.ceilingRps)} = ${f2(c.ratio)}`)
  }
  out.push('')
  for (const [k, v] of Object.entries(r.dataSize)) out.push(`data size, ${k}: 1k ${f0(v['1k'])}/s, 1M ${f0(v['1M'])}/s (x${f2(v.ratio1MTo1k)})`)
  const s = r.scaling
  out.push(`scaling, GET /me 2 vs 1 instance: node:cluster x${f2(s.meSpeedup2vs1.cluster)}, direct x${f2(s.meSpeedup2vs1.direct)} (bare Fastify: x${f2(s.meSpeedup2vs1.ceilingA)})`)
  out.push(`scaling, refresh 2 vs 1 instance: x${f2(s.refreshSpeedup2vs1)}`)
  for (const row of s.me.filter((x) => !x.id.startsWith('ceiling'))) {
    out.push(`  CPU per 10k /me, ${row.mode}: ${row.cpuMsPer10kByInstance ? row.cpuMsPer10kByInstance.map(f0).join(' / ') + ' ms per instance' : f0(row.cpuMsPer10k) + ' ms'}`)
  }
  out.push(`GET /me database queries: ${Object.entries(r.checks.meDbQueries).map(([k, v]) => `${k}=${v}`).join(', ')} (DENYLIST_SYNC_INTERVAL_MS=60000)`)
  if (r.login) out.push(`login: ${loginLine(r.login)}`)
  if (r.checks.failures.length) out.push(`PROBLEMS: ${r.checks.failures.join('; ')}`)
  if (r.checks.busyHost.length) out.push(`WARNING, other work on the host during: ${r.checks.busyHost.join(', ')}; those figures are low`)
  out.push(`total ${f0(r.meta.totalSeconds)} s`)
  return out.join('\n')
}

function loginLine(l: NonNullable<BenchResults['login']>): string {
  return (
    `event-loop delay p50 ${f1(l.loopDelayMs?.p50)} ms, p99 ${f1(l.loopDelayMs?.p99)} ms, max ${f1(l.loopDelayMs?.max)} ms at ${f1(l.rps)} logins/s; ` +
    `one argon2id hash is ${f1(l.hashCpuMs)} ms of CPU, so hashing on the loop would take ${pct(l.wouldBlockShare)} of its time ` +
    `(one thread tops out at ${f1(1000 / l.hashCpuMs)} hashes/s) and no delay could be under ${f1(l.hashCpuMs)} ms`
  )
}

export function markdownReport(r: BenchResults, svgName: string): string {
  const m = r.meta
  const s = m.settings
  const md: string[] = []
  md.push(`# Benchmark report`)
  md.push('')
  md.push(
    `${m.startedAt}: Node ${m.node}, Fastify ${m.fastify}, autocannon ${m.autocannon}, PostgreSQL ${m.postgres} (${m.database}), ` +
      `${m.cpus} × ${m.cpuModel}. ${s.seconds} s per run after ${s.warmupSec} s of warm-up, ${s.connections} connections ` +
      `(${s.loginConnections} for login), DB pool ${m.dbPoolSize} per instance, UV_THREADPOOL_SIZE ${m.uvThreadpoolSize}. ` +
      `The load generator (autocannon, in the runner process) runs on the same machine and shares its cores. Total ${f0(m.totalSeconds)} s.`,
  )
  md.push('')
  md.push(`![throughput and p99 per scenario](${svgName})`)
  md.push('')
  md.push('## Every figure beside its ceiling')
  md.push('')
  md.push('| ' + COLS.map((k) => HEAD[k]).join(' | ') + ' |')
  md.push('|' + COLS.map((_, i) => (i === 0 ? '---' : '---:')).join('|') + '|')
  for (const l of lines(r)) md.push('| ' + COLS.map((k) => l[k] || ' ').join(' | ') + ' |')
  md.push('')
  md.push(
    '*req/s* counts 2xx answers only. *CPU ms/10k*: server CPU time (user+system, all instances) per 10 000 answered requests. ' +
      '*DB queries*: statements the server instances sent during the measured run (IPC counter). *loop p99*: event-loop delay inside the server (worst instance), beyond the 10 ms sampling interval. ' +
      '*other load*: cores\' worth of CPU used during the run by processes that are not the bench\'s (servers, cluster primary, load generator, its PostgreSQL); above ~0.25 the figure was disturbed by other work on the machine. ' +
      'Ceilings: **A** bare Fastify with the app\'s settings returning a constant of /me\'s shape; **B** `BEGIN; UPDATE auth.token_families … WHERE id = $1; COMMIT` ' +
      'per request through pg with the same pool; **C** raw argon2id hashes/s with the production parameters ' +
      `(m=${m.argon2.memoryKiB} KiB, t=${m.argon2.timeCost}, p=${m.argon2.parallelism}), ` +
      `${r.ceilingC.concurrency} in flight, in its own process. The per-IP login limit and the per-session refresh limit are raised to 1 000 000 ` +
      '(one load generator is one client address); the limiter still runs.',
  )
  md.push('')
  md.push('## Ratios')
  md.push('')
  md.push('| figure | data | req/s | ceiling | ceiling/s | ratio |')
  md.push('|---|---|---:|---|---:|---:|')
  for (const c of r.comparisons) {
    md.push(`| ${c.label} | ${c.dataset ?? '–'} | ${c.rps < 100 ? f1(c.rps) : f0(c.rps)} | ${c.ceilingLabel} | ${c.ceilingRps < 100 ? f1(c.ceilingRps) : f0(c.ceilingRps)} | **${f2(c.ratio)}** |`)
  }
  md.push('')
  md.push('## Access path: no database')
  md.push('')
  md.push(
    `Database statements sent during each GET /me run: ${Object.entries(r.checks.meDbQueries).map(([k, v]) => `${k} **${v}**`).join(', ')}. ` +
      'Each /me run has a fresh server with `DENYLIST_SYNC_INTERVAL_MS=60000` (the longest allowed), so the periodic denylist catch-up ' +
      '(one query per interval, 2/s at the default 500 ms) does not fall inside the run and nothing needs subtracting. ' +
      `The tokens are signed by the bench with the deployment key; their header (${r.accessCheck.headerKeys.join(', ')}) and claims ` +
      `(${r.accessCheck.claimKeys.join(', ')}) were checked against a token the server issued, and the cookie run sends \`${r.accessCheck.cookieName}\`.`,
  )
  md.push('')
  if (r.login) {
    md.push('## Login: argon2 off the event loop')
    md.push('')
    md.push(
      `Inside the server during the login run: ${loginLine(r.login)}. What delay remains is the operating system sharing ` +
        `${m.cpus} cores between the event loop, ${m.uvThreadpoolSize} hashing threads and the load generator.`,
    )
    md.push('')
  }
  md.push('## Cost vs data size')
  md.push('')
  md.push(
    `Large data set: ${f0(r.seeding.largeFamilies)} token families, ${f0(r.seeding.refreshTokens)} refresh tokens; ` +
      `${f0(r.seeding.fillerFamilies)} filler families generated in SQL in ${f1(r.seeding.fillerSeconds)} s ` +
      `(+ ${f1(r.seeding.settleSeconds)} s VACUUM ANALYZE and CHECKPOINT), ${f0(s.knownLargeFamilies)} with known tokens in ${f1(r.seeding.knownSeconds)} s.`,
  )
  md.push('')
  md.push('| path | 1k families | ~1M families | 1M / 1k | p99 1k ms | p99 1M ms |')
  md.push('|---|---:|---:|---:|---:|---:|')
  for (const [k, v] of Object.entries(r.dataSize)) md.push(`| ${k} | ${f0(v['1k'])} | ${f0(v['1M'])} | ${f2(v.ratio1MTo1k)} | ${v.p99_1k} | ${v.p99_1M} |`)
  md.push('')
  md.push('## Refresh and the database')
  md.push('')
  md.push('| run | req/s | DB statements / refresh | WAL bytes / refresh | Postgres CPU ms / refresh | Postgres cores busy | server connections | every request a distinct family |')
  md.push('|---|---:|---:|---:|---:|---:|---:|---|')
  for (const [k, v] of Object.entries(r.refresh)) {
    md.push(`| ${k} | ${f0(v.rps)} | ${f1(v.dbQueriesPerRefresh)} | ${f0(v.walBytesPerRefresh)} | ${f2(v.postgresCpuMsPerRefresh)} | ${f2(v.postgresCores)} | ${v.dbConnections} | ${v.everyRequestDistinctFamily ? 'yes' : `no: ${v.families} families round-robin, none in two requests at once`} |`)
  }
  md.push('')
  md.push(
    `Denylist catch-up (the only query an idle instance makes): ${f2(r.catchUp.meanMs)} ms round trip, ` +
      `${r.catchUp.postgresCpuMsPerQuery === null ? '–' : f2(r.catchUp.postgresCpuMsPerQuery)} ms of Postgres CPU, ${r.catchUp.perInstancePerSec} per second per instance at the default interval.`,
  )
  md.push('')
  md.push('## 1 vs 2 instances')
  md.push('')
  md.push('| run | mode | inst | req/s | p50 ms | p99 ms | CPU ms per 10k req (per instance) | cores per instance | cluster primary CPU ms | host busy | generator cores | Postgres cores |')
  md.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const x of [...r.scaling.me, ...r.scaling.refresh]) {
    md.push(
      `| ${x.id} | ${x.mode} | ${x.instances} | ${f0(x.rps)} | ${x.p50} | ${x.p99} | ${x.cpuMsPer10kByInstance ? x.cpuMsPer10kByInstance.map(f0).join(' / ') : f0(x.cpuMsPer10k)} | ` +
        `${x.cpuCoresByInstance.map(f2).join(' / ')} | ${f0(x.primaryCpuMs)} | ${pct(x.hostBusy)} | ${f2(x.generatorCores)} | ${f2(x.postgresCores)} |`,
    )
  }
  md.push('')
  const sp = r.scaling
  const gen = [...sp.me, ...sp.refresh].map((x) => x.generatorCores)
  const perInstance = sp.me
    .filter((x) => !x.id.startsWith('ceiling'))
    .map((x) => `${x.mode} ${x.cpuMsPer10kByInstance ? x.cpuMsPer10kByInstance.map(f0).join(' / ') : f0(x.cpuMsPer10k)} ms`)
  md.push(
    `2 instances vs 1 on this ${m.cpus}-core machine: GET /me x${f2(sp.meSpeedup2vs1.cluster)} (node:cluster), x${f2(sp.meSpeedup2vs1.direct)} (direct); ` +
      `bare Fastify x${f2(sp.meSpeedup2vs1.ceilingA)}; refresh x${f2(sp.refreshSpeedup2vs1)}. The load generator shares the same cores ` +
      `(${f2(Math.min(...gen))} to ${f2(Math.max(...gen))} of a core here), so a second instance can only take what is left. What shows that the ` +
      `access path shares nothing is that an instance's CPU per 10 000 GET /me stays put as instances are added (${perInstance.join('; ')}) ` +
      'and that /me sends no query. See docs/scaling.md.',
  )
  md.push('')
  if (r.checks.failures.length) {
    md.push(`**Problems:** ${r.checks.failures.join('; ')}`)
    md.push('')
  }
  if (r.checks.remeasured.length) {
    md.push(`Measured again because other work on the machine disturbed the first attempt (BENCH_RETRY_BUSY): ${r.checks.remeasured.join(', ')}.`)
    md.push('')
  }
  if (r.checks.busyHost.length) {
    md.push(`**Other work on the host** during ${r.checks.busyHost.join(', ')}: those figures are lower than this machine allows.`)
    md.push('')
  }
  return md.join('\n')
}

// ---- SVG ----------------------------------------------------------------------------------

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function svgChart(r: BenchResults): string {
  interface Bar {
    label: string
    rps: number
    p99: number
    ceiling: boolean
  }
  const bars: Bar[] = []
  for (const run of r.runs) {
    if (run.id === 'login') {
      bars.push({ label: 'ceiling C: argon2id hashes', rps: r.ceilingC.hashesPerSec, p99: r.ceilingC.latencyMs.p99, ceiling: true })
    }
    bars.push({
      label: `${run.label}${run.dataset && !run.id.startsWith('ceiling-a') ? ` [${run.dataset}]` : ''}`,
      rps: run.load.rps,
      p99: run.load.latencyMs.p99,
      ceiling: run.id.startsWith('ceiling'),
    })
  }
  const rowH = 22
  const top = 72
  const labelW = 330
  const panelW = 330
  const gap = 60
  const width = labelW + panelW * 2 + gap + 30
  const height = top + bars.length * rowH + 40
  const logScale = (values: number[]) => {
    // one decade below the smallest value when it sits exactly on a decade, so its bar shows
    const min = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(...values.filter((v) => v > 0)))) - 1e-9))
    const max = Math.pow(10, Math.ceil(Math.log10(Math.max(...values))))
    return { min, max, x: (v: number) => (panelW * (Math.log10(Math.max(v, min)) - Math.log10(min))) / (Math.log10(max) - Math.log10(min)) }
  }
  const sr = logScale(bars.map((b) => b.rps))
  const sp = logScale(bars.map((b) => b.p99))
  const x1 = labelW
  const x2 = labelW + panelW + gap
  const o: string[] = []
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`)
  o.push(`<rect width="100%" height="100%" fill="#fff"/>`)
  o.push(`<text x="10" y="20" font-size="15" font-weight="600">Throughput and p99 latency per scenario (log scales; grey = ceiling)</text>`)
  o.push(`<text x="10" y="38" fill="#555">${esc(`${r.meta.startedAt}, ${r.meta.cpus} cores, ${r.meta.settings.seconds} s per run, ${r.meta.settings.connections} connections`)}</text>`)
  const axis = (x0: number, s: { min: number; max: number; x: (v: number) => number }, title: string) => {
    o.push(`<text x="${x0}" y="${top - 6}" font-weight="600">${title}</text>`)
    for (let v = s.min; v <= s.max * 1.0001; v *= 10) {
      const x = x0 + s.x(v)
      o.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + bars.length * rowH}" stroke="#ddd"/>`)
      o.push(`<text x="${x}" y="${top + bars.length * rowH + 14}" text-anchor="middle" fill="#555">${v >= 1 ? v.toLocaleString('en-US') : v}</text>`)
    }
  }
  axis(x1, sr, 'requests/s (hashes/s for C)')
  axis(x2, sp, 'p99 latency, ms')
  bars.forEach((b, i) => {
    const y = top + i * rowH
    const fill = b.ceiling ? '#9aa0a6' : '#1a73e8'
    const fill2 = b.ceiling ? '#c0c4c8' : '#e8710a'
    o.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`)
    const w1 = Math.max(1, sr.x(b.rps))
    o.push(`<rect x="${x1}" y="${y + 4}" width="${w1.toFixed(1)}" height="${rowH - 8}" fill="${fill}"/>`)
    o.push(`<text x="${x1 + w1 + 4}" y="${y + 15}" fill="#222">${b.rps < 100 ? b.rps.toFixed(1) : Math.round(b.rps).toLocaleString('en-US')}</text>`)
    const w2 = Math.max(1, sp.x(b.p99))
    o.push(`<rect x="${x2}" y="${y + 4}" width="${w2.toFixed(1)}" height="${rowH - 8}" fill="${fill2}"/>`)
    o.push(`<text x="${x2 + w2 + 4}" y="${y + 15}" fill="#222">${b.p99 < 10 ? b.p99.toFixed(1) : Math.round(b.p99)}</text>`)
  })
  o.push('</svg>')
  return o.join('\n') + '\n'
}
