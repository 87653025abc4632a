// autocannon over real sockets, driven from this (the load generator's) process. Each run is
// a short warm-up (discarded), then the measured run; several targets can be loaded at once
// (connections split between them) and their latency histograms are merged exactly.
import autocannon from 'autocannon'

export interface RequestSpec {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  /** called for every request: returns its headers and body (distinct tokens per request) */
  next?: () => { headers?: Record<string, string>; body?: string; tag?: string }
  /** sees every response (refresh reads the child token from it), with its request's tag */
  onResponse?: (status: number, body: string, tag: string | undefined) => void
}

export interface LoadResult {
  durationSec: number
  connections: number
  requests: number
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  /** successful (2xx) responses per second */
  rps: number
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number }
  statusCodes: Record<string, number>
  /** CPU time of the load generator process during the run */
  generatorCpuMs: number
  /** successful responses per target (port), when several were loaded at once */
  perTarget: { port: number; ok: number }[]
}

export interface Target {
  port: number
  connections: number
}

function options(spec: RequestSpec, target: Target, durationSec: number): autocannon.Options {
  const { next, onResponse } = spec
  const request: Record<string, unknown> = { method: spec.method, path: spec.path }
  if (next) {
    // autocannon hands the same per-connection context to a request's setupRequest and to
    // its response's onResponse (it is reset between the two requests of a connection).
    request.setupRequest = (req: Record<string, unknown>, context: { tag?: string }) => {
      const n = next()
      req.headers = { ...spec.headers, ...n.headers }
      if (n.body !== undefined) req.body = n.body
      context.tag = n.tag
      return req
    }
  }
  if (onResponse) request.onResponse = (status: number, body: string, context: { tag?: string }) => onResponse(status, body, context.tag)
  return {
    url: `http://127.0.0.1:${target.port}`,
    connections: target.connections,
    duration: durationSec,
    pipelining: 1,
    timeout: 10,
    headers: spec.headers,
    requests: [request as autocannon.Request],
    skipAggregateResult: true,
  } as autocannon.Options
}

type Aggregated = autocannon.Result & { totalCompletedRequests: number; statusCodeStats: Record<string, { count: number }> }

// Typed in autocannon itself but missing from @types/autocannon. It merges the raw results'
// latency histograms exactly, also when they come from runs made one after another.
function aggregate(raw: autocannon.Result[], targets: Target[]): Aggregated {
  const merge = (autocannon as unknown as { aggregateResult(r: autocannon.Result[], o: autocannon.Options): unknown }).aggregateResult
  return merge(raw, {
    url: `http://127.0.0.1:${targets[0]!.port}`,
    connections: targets.reduce((n, t) => n + t.connections, 0),
  } as autocannon.Options) as Aggregated
}

async function runOnce(spec: RequestSpec, targets: Target[], durationSec: number) {
  const runs = targets.map((t) => autocannon(options(spec, t, durationSec)))
  const raw = (await Promise.all(runs)) as unknown as autocannon.Result[]
  return { raw, merged: aggregate(raw, targets), perTarget: raw.map((r, i) => ({ port: targets[i]!.port, ok: r['2xx'] })) }
}

// Each result's raw autocannon results, kept out of the JSON report (their histograms are
// encoded blobs), for mergeLoads.
const rawOf = new WeakMap<LoadResult, { raw: autocannon.Result[]; targets: Target[] }>()

export async function load(spec: RequestSpec, targets: Target[], durationSec: number, warmupSec: number): Promise<LoadResult> {
  if (warmupSec > 0) await runOnce(spec, targets, warmupSec)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const { raw, merged, perTarget } = await runOnce(spec, targets, durationSec)
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  // autocannon counts whole seconds of samples; the wall clock of the run is what matters here.
  const result = summary(merged, targets, Math.max(wall, 0.001), (cpu.user + cpu.system) / 1000, perTarget)
  rawOf.set(result, { raw, targets })
  return result
}

/** Several runs of one load on the same targets as if they were one run of their total length. */
export function mergeLoads(parts: LoadResult[]): LoadResult {
  const kept = parts.map((p) => rawOf.get(p))
  if (kept.some((k) => k === undefined)) throw new Error('mergeLoads: a part did not come from load()')
  const targets = kept[0]!.targets
  const raw = kept.flatMap((k) => k!.raw)
  const perTarget = targets.map((t) => ({ port: t.port, ok: parts.reduce((n, p) => n + (p.perTarget.find((x) => x.port === t.port)?.ok ?? 0), 0) }))
  const sum = (pick: (p: LoadResult) => number) => parts.reduce((n, p) => n + pick(p), 0)
  const result = summary(aggregate(raw, targets), targets, sum((p) => p.durationSec), sum((p) => p.generatorCpuMs), perTarget)
  rawOf.set(result, { raw, targets })
  return result
}

function summary(r: Aggregated, targets: Target[], durationSec: number, generatorCpuMs: number, perTarget: LoadResult['perTarget']): LoadResult {
  const ok = r['2xx']
  const statusCodes: Record<string, number> = {}
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = v?.count ?? 0
  return {
    durationSec,
    connections: targets.reduce((n, t) => n + t.connections, 0),
    requests: r.totalCompletedRequests,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    rps: ok / durationSec,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
    statusCodes,
    generatorCpuMs,
    perTarget,
  }
}

/** Splits `connections` between `n` targets as evenly as possible. */
export function split(connections: number, ports: number[]): Target[] {
  return ports.map((port, i) => ({
    port,
    connections: Math.floor(connections / ports.length) + (i < connections % ports.length ? 1 : 0),
  }))
}
