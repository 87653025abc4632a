// What every scenario shares: settings, the database, how processes are deployed, and one
// `measure` that wraps a load run with each process's /metrics read around it.
import type pg from 'pg'
import type { BenchDatabase } from '../lib/database.js'
import { SCRIPTS, startProc, type Metrics, type Proc, type ThreadCpu } from '../lib/proc.js'
import { load, mergeLoads, split, type LoadResult, type RequestSpec } from '../lib/load.js'
import { hostDelta, hostSnapshot, walPosition, type HostDelta } from '../lib/host.js'
import type { SigningSettings } from '../lib/access-tokens.js'

export interface Settings {
  smoke: boolean
  seconds: number
  warmupSec: number
  connections: number
  loginConnections: number
  /** token families in the database during the refresh runs and ceiling B (BENCH_FAMILIES) */
  families: number
  /** of which this many have a refresh token the bench knows, so each refresh its own family */
  refreshFamilies: number
  /** users whose access tokens the "many tokens" runs cycle through */
  accessUsers: number
  loginUsers: number
  /** how long a process sits after start before its idle RSS is read */
  idleMs: number
  /** the 1-vs-2-processes section (BENCH_SCALING=0 leaves it out) */
  scaling: boolean
  /** BENCH_RETRY_BUSY: extra attempts for a run disturbed by other work on the machine */
  retryBusy: number
  /** BENCH_ONLY: the groups of runs to make */
  only: ReadonlySet<'access' | 'refresh' | 'login' | 'scaling' | 'start'>
}

export interface Ctx {
  settings: Settings
  db: BenchDatabase
  /** DATABASE_URL and the deployment's secrets, given to every process */
  env: Record<string, string>
  signing: SigningSettings
  /** the bench database's postmaster pid when it runs on this host (its CPU is measured) */
  postmaster: number | null
  log(msg: string): void
}

export type Kind = keyof typeof SCRIPTS

/** Processes that hold a pool and count their statements in auth_db_statements_total. */
const COUNTS_STATEMENTS: ReadonlySet<Kind> = new Set(['server', 'hostApp', 'ceilingB'])

/** One or more processes of one kind, each on its own port. */
export interface Deployment {
  kind: Kind
  procs: Proc[]
  ports: number[]
  /** each process's RSS once started and left idle for settings.idleMs, before any request */
  rssIdle: number[]
  stop(): Promise<void>
}

/**
 * `n` processes of one kind, each on its own port, the load generator splitting its
 * connections between them as a load balancer would. (Not node:cluster: its workers share one
 * port, so GET /metrics would answer from whichever worker a connection lands on; see
 * bench/cluster.ts.)
 */
export async function deploy(ctx: Ctx, kind: Kind, n = 1, env: Record<string, string> = {}): Promise<Deployment> {
  const procs: Proc[] = []
  try {
    for (let i = 0; i < n; i++) procs.push(await startProc(n === 1 ? kind : `${kind}-${i}`, SCRIPTS[kind], { ...ctx.env, ...env }))
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()))
    throw err
  }
  await new Promise((r) => setTimeout(r, ctx.settings.idleMs))
  const idle = await Promise.all(procs.map((p) => p.metrics()))
  return {
    kind,
    procs,
    ports: procs.map((p) => p.port),
    rssIdle: idle.map((m) => m.rss),
    stop: async () => {
      await Promise.all(procs.map((p) => p.stop()))
    },
  }
}

export interface Measured {
  id: string
  label: string
  kind: Kind
  instances: number
  /** measured runs made (more than one only with BENCH_RETRY_BUSY on a busy machine) */
  attempts: number
  load: LoadResult
  server: {
    /** CPU time (user + system) of each process during the measured run */
    cpuMs: number[]
    /** cores' worth of CPU each process used (cpuMs / wall) */
    cpuCores: number[]
    /** CPU time of all processes per 2xx answer */
    cpuUsPerRequest: number
    /** of that, the event-loop threads' and the other threads' (libuv's pool, GC helpers); null: no /proc */
    threadCpuUsPerRequest: { main: number; others: number } | null
    /** per process, over that process's own 2xx answers (several processes only) */
    cpuUsPerRequestByInstance: number[] | null
    /** statements the processes sent to the database during the run; null: no database */
    dbStatements: number | null
    dbStatementsPerRequest: number | null
    /** event-loop delay during the run (worst process), from the scrape after it */
    eventLoopDelayMs: { p50: number; p99: number; max: number } | null
    /** each process's RSS after start, idle */
    rssIdleMiB: number[]
    /** each process's highest RSS seen during the measured run (sampled every 250 ms) */
    rssLoadMiB: number[]
  }
  host: HostDelta & {
    walBytes: number | null
    walBytesPerRequest: number | null
    generatorCores: number
  }
  notes: string[]
}

const cpuMsOf = (m: Metrics) => (m.cpu.user + m.cpu.system) / 1000
const MiB = (bytes: number) => bytes / 2 ** 20

/** Above this many cores of other work on the machine, a run's figures are disturbed. */
export const BUSY_HOST_CORES = 0.25

type MeasureMeta = Pick<Measured, 'id' | 'label'> & { notes?: string[] }
type MeasureOpts = { connections?: number; admin?: pg.Pool; maxAttempts?: number }

/**
 * Warm-up (discarded), then the measured run with counters read around it. With
 * BENCH_RETRY_BUSY=n, a run during which other work used the machine is measured again, up to
 * n more times, and the least disturbed attempt is kept (the number of attempts is reported).
 */
export async function measure(ctx: Ctx, dep: Deployment, meta: MeasureMeta, spec: RequestSpec, opts: MeasureOpts = {}): Promise<Measured> {
  const connections = opts.connections ?? ctx.settings.connections
  ctx.log(`  ${meta.label}: ${dep.procs.length} process(es), ${connections} connections, ${ctx.settings.seconds} s`)
  const targets = split(connections, dep.ports)
  if (ctx.settings.warmupSec > 0) await load(spec, targets, ctx.settings.warmupSec, 0)
  const maxAttempts = Math.max(1, Math.min(ctx.settings.retryBusy + 1, opts.maxAttempts ?? Infinity))
  let best: Measured | null = null
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const m = await measureOnce(ctx, dep, meta, spec, targets, opts, ctx.settings.seconds)
    m.attempts = attempt
    if (best === null || (m.host.otherCores ?? 0) < (best.host.otherCores ?? 0)) best = m
    if ((m.host.otherCores ?? 0) <= BUSY_HOST_CORES) break
    if (attempt < maxAttempts) ctx.log(`    other work used ${m.host.otherCores!.toFixed(2)} cores during the run; measuring again`)
  }
  return best!
}

async function measureOnce(ctx: Ctx, dep: Deployment, meta: MeasureMeta, spec: RequestSpec, targets: ReturnType<typeof split>, opts: MeasureOpts, seconds: number, quiet = false): Promise<Measured> {
  // This scrape is also the reset: prom-client restarts its event-loop histogram at each one.
  const m0 = await Promise.all(dep.procs.map((p) => p.metrics()))
  const t0 = await Promise.all(dep.procs.map((p) => p.threadCpuMs()))
  const h0 = await hostSnapshot(ctx.postmaster)
  const wal0 = opts.admin ? await walPosition(opts.admin) : null
  const peak = dep.procs.map(() => 0)
  const sampler = setInterval(() => {
    dep.procs.forEach((p, i) => void p.rssNow().then((rss) => (peak[i] = Math.max(peak[i]!, rss ?? 0))))
  }, 250)
  let result: LoadResult
  try {
    result = await load(spec, targets, seconds, 0)
  } finally {
    clearInterval(sampler)
  }
  const h1 = await hostSnapshot(ctx.postmaster)
  const wal1 = opts.admin ? await walPosition(opts.admin) : null
  const t1 = await Promise.all(dep.procs.map((p) => p.threadCpuMs()))
  const m1 = await Promise.all(dep.procs.map((p) => p.metrics()))

  const wallMs = result.durationSec * 1000
  const perProc = m1.map((m, i) => cpuMsOf(m) - cpuMsOf(m0[i]!))
  const totalCpuMs = perProc.reduce((a, b) => a + b, 0)
  const statements = COUNTS_STATEMENTS.has(dep.kind) ? m1.reduce((n, m, i) => n + m.dbQueries - m0[i]!.dbQueries, 0) : null
  const loops = m1.map((m) => m.eventLoopDelayMs)
  const walBytes = wal0 !== null && wal1 !== null ? Number(wal1 - wal0) : null
  const ok = result.ok
  const threads = threadShare(t0, t1, ok)
  const measured: Measured = {
    ...meta,
    notes: [...(meta.notes ?? [])],
    kind: dep.kind,
    instances: dep.procs.length,
    attempts: 1,
    load: result,
    server: {
      cpuMs: perProc,
      cpuCores: perProc.map((c) => c / wallMs),
      cpuUsPerRequest: ok > 0 ? (totalCpuMs * 1000) / ok : NaN,
      threadCpuUsPerRequest: threads,
      cpuUsPerRequestByInstance:
        perProc.length > 1 && result.perTarget.length === perProc.length
          ? perProc.map((c, i) => (result.perTarget[i]!.ok > 0 ? (c * 1000) / result.perTarget[i]!.ok : NaN))
          : null,
      dbStatements: statements,
      dbStatementsPerRequest: statements !== null && ok > 0 ? statements / ok : null,
      eventLoopDelayMs: { p50: Math.max(...loops.map((l) => l.p50)), p99: Math.max(...loops.map((l) => l.p99)), max: Math.max(...loops.map((l) => l.max)) },
      rssIdleMiB: dep.rssIdle.map(MiB),
      // /proc unreadable (not Linux): the scrape right after the run is the nearest figure.
      rssLoadMiB: peak.map((p, i) => MiB(p > 0 ? p : m1[i]!.rss)),
    },
    host: {
      ...hostDelta(h0, h1),
      walBytes,
      walBytesPerRequest: walBytes !== null && ok > 0 ? walBytes / ok : null,
      generatorCores: result.generatorCpuMs / wallMs,
    },
  }
  if (!quiet) logMeasured(ctx, measured)
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    measured.notes.push(`UNEXPECTED: ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodes)}), ${result.errors} errors, ${result.timeouts} timeouts`)
  }
  return measured
}

function logMeasured(ctx: Ctx, measured: Measured): void {
  const l = measured.load
  const threads = measured.server.threadCpuUsPerRequest
  const statements = measured.server.dbStatements
  ctx.log(
    `    ${Math.round(l.rps)} req/s, p50 ${l.latencyMs.p50} ms, p99 ${l.latencyMs.p99} ms, ${l.ok} ok, ${l.non2xx} non-2xx, ${l.errors} errors, ` +
      `${Math.round(measured.server.cpuUsPerRequest)} µs CPU/request` +
      (threads ? ` (main thread ${Math.round(threads.main)}, others ${Math.round(threads.others)})` : '') +
      (statements !== null ? `, ${statements} db statements` : '') +
      (measured.host.otherCores !== null && measured.host.otherCores > BUSY_HOST_CORES ? ` (other work on the host: ${measured.host.otherCores.toFixed(2)} cores)` : ''),
  )
}

// Smoke mode (1 s runs) only proves the rounds run and add up: 2 rounds, short gaps.
const ROUND_GAP_MS = 500
const SMOKE_ROUND_GAP_MS = 50

export interface Side {
  dep: Deployment
  meta: MeasureMeta
  spec: RequestSpec
  opts?: MeasureOpts
}

/**
 * A figure and its ceiling, both deployed at once and measured in alternating rounds (A B B A
 * A B …, `rounds` of seconds/rounds each, BENCH_SECONDS by default), each side's rounds summed
 * as one run. Run one after
 * the other, a drift of the machine's speed between the two falls on whichever ran second (seen
 * on a shared 2-core machine: ceiling C at 63–78 hashes/s within minutes, and a ratio of 0.75 to
 * 0.91 from one run to the next); alternating, it falls on both alike. The idle side's timers
 * run meanwhile, as any idle process's would.
 */
export async function measureAlternating(ctx: Ctx, sides: [Side, Side], rounds: number, seconds = ctx.settings.seconds): Promise<[Measured, Measured]> {
  const { warmupSec } = ctx.settings
  if (ctx.settings.smoke) rounds = Math.min(rounds, 2)
  const targets = sides.map((s) => split(s.opts?.connections ?? ctx.settings.connections, s.dep.ports))
  for (const [i, s] of sides.entries()) {
    ctx.log(`  ${s.meta.label}: ${s.dep.procs.length} process(es), ${targets[i]!.reduce((n, t) => n + t.connections, 0)} connections, ${seconds} s in ${rounds} rounds`)
    if (warmupSec > 0) await load(s.spec, targets[i]!, warmupSec, 0)
  }
  const parts: [Measured[], Measured[]] = [[], []]
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) {
      const s = sides[i]!
      // Requests the other side still had in flight when its round ended finish first.
      await new Promise((resolve) => setTimeout(resolve, ctx.settings.smoke ? SMOKE_ROUND_GAP_MS : ROUND_GAP_MS))
      parts[i]!.push(await measureOnce(ctx, s.dep, s.meta, s.spec, targets[i]!, s.opts ?? {}, seconds / rounds, true))
    }
  }
  const merged = parts.map((p) => {
    const m = mergeRounds(p)
    m.notes.push(`measured in ${rounds} rounds of ${(seconds / rounds).toFixed(1)} s, alternating with ${sides.find((s) => s.meta.id !== m.id)!.meta.label}`)
    logMeasured(ctx, m)
    return m
  }) as [Measured, Measured]
  return merged
}

/** One side's rounds as one run: counts and times summed, rates over the summed time, the worst round's delay and memory. */
function mergeRounds(parts: Measured[]): Measured {
  const first = parts[0]!
  const load_ = mergeLoads(parts.map((p) => p.load))
  const wallMs = load_.durationSec * 1000
  const ok = load_.ok
  const sum = (pick: (m: Measured) => number) => parts.reduce((n, m) => n + pick(m), 0)
  const nullableSum = (pick: (m: Measured) => number | null) => (parts.some((m) => pick(m) === null) ? null : sum((m) => pick(m)!))
  // a rate of each round, weighted by the round's length
  const rate = (pick: (m: Measured) => number | null) => (parts.some((m) => pick(m) === null) ? null : sum((m) => pick(m)! * m.load.durationSec) / load_.durationSec)
  const cpuMs = first.server.cpuMs.map((_, i) => sum((m) => m.server.cpuMs[i]!))
  const statements = nullableSum((m) => m.server.dbStatements)
  const threads = parts.some((m) => m.server.threadCpuUsPerRequest === null)
    ? null
    : { main: sum((m) => m.server.threadCpuUsPerRequest!.main * m.load.ok) / ok, others: sum((m) => m.server.threadCpuUsPerRequest!.others * m.load.ok) / ok }
  const loops = parts.map((m) => m.server.eventLoopDelayMs).filter((l) => l !== null)
  const walBytes = nullableSum((m) => m.host.walBytes)
  return {
    ...first,
    notes: [...new Set(parts.flatMap((m) => m.notes))],
    load: load_,
    server: {
      cpuMs,
      cpuCores: cpuMs.map((c) => c / wallMs),
      cpuUsPerRequest: ok > 0 ? (sum((m) => m.server.cpuMs.reduce((a, b) => a + b, 0)) * 1000) / ok : NaN,
      threadCpuUsPerRequest: threads,
      cpuUsPerRequestByInstance:
        cpuMs.length > 1 && load_.perTarget.length === cpuMs.length ? cpuMs.map((c, i) => (load_.perTarget[i]!.ok > 0 ? (c * 1000) / load_.perTarget[i]!.ok : NaN)) : null,
      dbStatements: statements,
      dbStatementsPerRequest: statements !== null && ok > 0 ? statements / ok : null,
      eventLoopDelayMs:
        loops.length === 0 ? null : { p50: Math.max(...loops.map((l) => l.p50)), p99: Math.max(...loops.map((l) => l.p99)), max: Math.max(...loops.map((l) => l.max)) },
      rssIdleMiB: first.server.rssIdleMiB,
      rssLoadMiB: first.server.rssLoadMiB.map((_, i) => Math.max(...parts.map((m) => m.server.rssLoadMiB[i]!))),
    },
    host: {
      hostBusy: rate((m) => m.host.hostBusy)!,
      hostBusyCores: rate((m) => m.host.hostBusyCores)!,
      postgresCores: rate((m) => m.host.postgresCores),
      postgresCpuMs: nullableSum((m) => m.host.postgresCpuMs),
      otherCores: rate((m) => m.host.otherCores),
      stealCores: rate((m) => m.host.stealCores)!,
      walBytes,
      walBytesPerRequest: walBytes !== null && ok > 0 ? walBytes / ok : null,
      generatorCores: rate((m) => m.host.generatorCores)!,
    },
  }
}

function threadShare(t0: (ThreadCpu | null)[], t1: (ThreadCpu | null)[], ok: number): { main: number; others: number } | null {
  if (ok === 0 || t0.some((t) => t === null) || t1.some((t) => t === null)) return null
  const sum = (pick: (t: ThreadCpu) => number) => t1.reduce((n, t, i) => n + pick(t!) - pick(t0[i]!), 0)
  return { main: (sum((t) => t.main) * 1000) / ok, others: (sum((t) => t.others) * 1000) / ok }
}
