// What every scenario shares: settings, the database, how deployments are started, and one
// `measure` that wraps a load run with the counters read around it.
import type pg from 'pg'
import type { BenchDatabase } from '../lib/database.js'
import { forkProcess, type ProcMetrics, type Proc } from '../lib/proc.js'
import { load, split, type LoadResult, type RequestSpec } from '../lib/load.js'
import { hostDelta, hostSnapshot, walPosition, type HostDelta } from '../lib/host.js'
import type { SigningSettings } from '../lib/access-tokens.js'

export interface Settings {
  seconds: number
  warmupSec: number
  connections: number
  loginConnections: number
  smallFamilies: number
  largeFamilies: number
  knownLargeFamilies: number
  accessTokens: number
  loginUsers: number
  smoke: boolean
  /** BENCH_RETRY_BUSY: extra attempts for a run disturbed by other work on the machine */
  retryBusy: number
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

/** One or more instances of something that serves HTTP, reachable on `ports`. */
export interface Deployment {
  kind: 'single' | 'cluster' | 'direct'
  instances: number
  ports: number[]
  reset(): Promise<void>
  /** counters of every instance, and of the cluster primary when there is one */
  metrics(): Promise<{ instances: ProcMetrics[]; primaryCpu?: { user: number; system: number } }>
  stop(): Promise<void>
}

export async function single(ctx: Ctx, name: string, script: string, env: Record<string, string> = {}): Promise<Deployment> {
  const p = await forkProcess(name, script, { ...ctx.env, ...env })
  return fromProcs('single', [p])
}

export async function direct(ctx: Ctx, n: number, env: Record<string, string> = {}, script = 'src/server.ts'): Promise<Deployment> {
  const procs = await Promise.all(Array.from({ length: n }, (_, i) => forkProcess(`server-${i}`, script, { ...ctx.env, ...env })))
  return fromProcs('direct', procs)
}

export function server(ctx: Ctx, env: Record<string, string> = {}): Promise<Deployment> {
  return single(ctx, 'server', 'src/server.ts', env)
}

function fromProcs(kind: 'single' | 'direct', procs: Proc[]): Deployment {
  return {
    kind,
    instances: procs.length,
    ports: procs.map((p) => p.port),
    reset: async () => {
      await Promise.all(procs.map((p) => p.reset()))
    },
    metrics: async () => ({ instances: await Promise.all(procs.map((p) => p.metrics())) }),
    stop: async () => {
      await Promise.all(procs.map((p) => p.stop()))
    },
  }
}

interface ClusterMetrics {
  instances: ProcMetrics[]
  primary: { cpu: { user: number; system: number } }
}

export async function cluster(ctx: Ctx, n: number, env: Record<string, string> = {}): Promise<Deployment> {
  const p = await forkProcess<ClusterMetrics>('cluster', 'bench/cluster.ts', { ...ctx.env, ...env, INSTANCES: String(n) })
  return {
    kind: 'cluster',
    instances: n,
    ports: [p.port],
    reset: () => p.reset(),
    metrics: async () => {
      const m = await p.metrics()
      return { instances: m.instances, primaryCpu: m.primary.cpu }
    },
    stop: () => p.stop(),
  }
}

export interface Measured {
  id: string
  label: string
  /** which ceiling this is compared with (scenario id), if any */
  ceilingId?: string
  dataset: '1k' | '1M' | null
  deployment: Deployment['kind']
  instances: number
  /** measured runs made (more than one only with BENCH_RETRY_BUSY on a busy machine) */
  attempts: number
  load: LoadResult
  server: {
    /** CPU time of each instance during the measured run */
    cpuMs: number[]
    /** cores' worth of CPU each instance used (cpuMs / wall) */
    cpuCores: number[]
    /** CPU time per 10 000 successful requests, averaged over instances */
    cpuMsPer10k: number
    /** per instance, where each instance's own request count is known (direct mode) */
    cpuMsPer10kByInstance: number[] | null
    /** statements sent to the database by the instances during the run (null: not counted) */
    dbQueries: number | null
    eventLoopDelayMs: { p50: number; p99: number; max: number } | null
    rssMb: number
    /** cluster primary (connection hand-off) CPU during the run */
    primaryCpuMs: number | null
  }
  host: HostDelta & {
    walBytes: number | null
    walBytesPerRequest: number | null
    generatorCores: number
  }
  notes: string[]
}

const cpuMs = (a: { user: number; system: number }, b: { user: number; system: number }) => (b.user + b.system - a.user - a.system) / 1000

/** Above this many cores of other work on the machine, a run's figures are disturbed. */
export const BUSY_HOST_CORES = 0.25

type MeasureMeta = Omit<Measured, 'load' | 'server' | 'host' | 'notes' | 'deployment' | 'instances' | 'attempts'> & { notes?: string[] }
type MeasureOpts = { connections?: number; admin?: pg.Pool; maxAttempts?: number }

/**
 * Warm-up (discarded), then the measured run with counters read around it. With
 * BENCH_RETRY_BUSY=n, a run during which other work used the machine is measured again, up to
 * n more times, and the least disturbed attempt is kept (the number of attempts is reported).
 */
export async function measure(ctx: Ctx, dep: Deployment, meta: MeasureMeta, spec: RequestSpec, opts: MeasureOpts = {}): Promise<Measured> {
  const connections = opts.connections ?? ctx.settings.connections
  ctx.log(`  ${meta.label}${meta.dataset ? ` [${meta.dataset}]` : ''}: ${dep.instances} instance(s), ${connections} connections, ${ctx.settings.seconds} s`)
  const targets = split(connections, dep.ports)
  if (ctx.settings.warmupSec > 0) await load(spec, targets, ctx.settings.warmupSec, 0)
  const maxAttempts = Math.max(1, Math.min(ctx.settings.retryBusy + 1, opts.maxAttempts ?? Infinity))
  let best: Measured | null = null
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const m = await measureOnce(ctx, dep, meta, spec, targets, opts)
    m.attempts = attempt
    if (best === null || (m.host.otherCores ?? 0) < (best.host.otherCores ?? 0)) best = m
    if ((m.host.otherCores ?? 0) <= BUSY_HOST_CORES) break
    if (attempt < maxAttempts) ctx.log(`    other work used ${m.host.otherCores!.toFixed(2)} cores during the run; measuring again`)
  }
  return best!
}

async function measureOnce(ctx: Ctx, dep: Deployment, meta: MeasureMeta, spec: RequestSpec, targets: ReturnType<typeof split>, opts: MeasureOpts): Promise<Measured> {
  const { seconds } = ctx.settings
  await dep.reset()
  const m0 = await dep.metrics()
  const h0 = await hostSnapshot(ctx.postmaster)
  const wal0 = opts.admin ? await walPosition(opts.admin) : null
  const result = await load(spec, targets, seconds, 0)
  const h1 = await hostSnapshot(ctx.postmaster)
  const wal1 = opts.admin ? await walPosition(opts.admin) : null
  const m1 = await dep.metrics()

  const wallMs = result.durationSec * 1000
  const perInstance = m1.instances.map((m, i) => cpuMs(m0.instances[i]!.cpu, m.cpu))
  const totalCpu = perInstance.reduce((a, b) => a + b, 0)
  const queries = m1.instances.every((m) => typeof m.dbQueries === 'number')
    ? m1.instances.reduce((n, m, i) => n + (m.dbQueries! - m0.instances[i]!.dbQueries!), 0)
    : null
  const loops = m1.instances.map((m) => m.eventLoopDelayMs).filter((x) => x !== undefined)
  const walBytes = wal0 !== null && wal1 !== null ? Number(wal1 - wal0) : null
  const hd = hostDelta(h0, h1)
  const primaryCpuMs = m0.primaryCpu && m1.primaryCpu ? cpuMs(m0.primaryCpu, m1.primaryCpu) : null
  const measured: Measured = {
    ...meta,
    notes: [...(meta.notes ?? [])],
    attempts: 1,
    deployment: dep.kind,
    instances: dep.instances,
    load: result,
    server: {
      cpuMs: perInstance,
      cpuCores: perInstance.map((c) => c / wallMs),
      cpuMsPer10k: result.ok > 0 ? (totalCpu / result.ok) * 10_000 : NaN,
      cpuMsPer10kByInstance:
        dep.kind === 'direct' && result.perTarget.length === perInstance.length
          ? perInstance.map((c, i) => (result.perTarget[i]!.ok > 0 ? (c / result.perTarget[i]!.ok) * 10_000 : NaN))
          : null,
      dbQueries: queries,
      eventLoopDelayMs: loops.length
        ? { p50: Math.max(...loops.map((l) => l.p50)), p99: Math.max(...loops.map((l) => l.p99)), max: Math.max(...loops.map((l) => l.max)) }
        : null,
      rssMb: Math.max(...m1.instances.map((m) => m.rss)) / 2 ** 20,
      primaryCpuMs,
    },
    host: {
      ...hd,
      walBytes,
      walBytesPerRequest: walBytes !== null && result.ok > 0 ? walBytes / result.ok : null,
      generatorCores: result.generatorCpuMs / wallMs,
    },
  }
  const l = result
  ctx.log(
    `    ${Math.round(l.rps)} req/s, p50 ${l.latencyMs.p50} ms, p99 ${l.latencyMs.p99} ms, ${l.ok} ok, ${l.non2xx} non-2xx, ${l.errors} errors` +
      (queries !== null ? `, ${queries} db queries` : '') +
      (measured.host.otherCores !== null && measured.host.otherCores > BUSY_HOST_CORES ? ` (other work on the host: ${measured.host.otherCores.toFixed(2)} cores)` : ''),
  )
  return measured
}
