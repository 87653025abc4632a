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

async function runOnce(spec: RequestSpec, targets: Target[], durationSec: number) {
  const runs = targets.map((t) => autocannon(options(spec, t, durationSec)))
  const raw = (await Promise.all(runs)) as unknown as autocannon.Result[]
  // Typed in autocannon itself but missing from @types/autocannon.
  const aggregate = (autocannon as unknown as { aggregateResult(r: autocannon.Result[], o: autocannon.Options): unknown }).aggregateResult
  const merged = aggregate(raw, {
    url: `http://127.0.0.1:${targets[0]!.port}`,
    connections: targets.reduce((n, t) => n + t.connections, 0),
  } as autocannon.Options) as autocannon.Result & { totalCompletedRequests: number; statusCodeStats: Record<string, { count: number }> }
  return Object.assign(merged, { perTarget: raw.map((r, i) => ({ port: targets[i]!.port, ok: r['2xx'] })) })
}

export async function load(spec: RequestSpec, targets: Target[], durationSec: number, warmupSec: number): Promise<LoadResult> {
  if (warmupSec > 0) await runOnce(spec, targets, warmupSec)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const r = await runOnce(spec, targets, durationSec)
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  // autocannon counts whole seconds of samples; the wall clock of the run is what matters here.
  const durationSec_ = Math.max(wall, 0.001)
  const ok = r['2xx']
  const statusCodes: Record<string, number> = {}
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = v?.count ?? 0
  return {
    durationSec: durationSec_,
    connections: targets.reduce((n, t) => n + t.connections, 0),
    requests: r.totalCompletedRequests,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    rps: ok / durationSec_,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
    statusCodes,
    generatorCpuMs: (cpu.user + cpu.system) / 1000,
    perTarget: r.perTarget,
  }
}

/** Splits `connections` between `n` targets as evenly as possible. */
export function split(connections: number, ports: number[]): Target[] {
  return ports.map((port, i) => ({
    port,
    connections: Math.floor(connections / ports.length) + (i < connections % ports.length ? 1 : 0),
  }))
}
