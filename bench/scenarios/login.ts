// POST /auth/login against ceiling C (raw argon2id hashes/s, same parameters, same thread
// pool, own process), with the server's event-loop delay during the run: argon2 runs on the
// libuv pool, so the loop must stay responsive while every core is hashing.
import { forkProcess } from '../lib/proc.js'
import type { RequestSpec } from '../lib/load.js'
import { hostDelta, hostSnapshot } from '../lib/host.js'
import { BUSY_HOST_CORES, measure, type Ctx, type Deployment, type Measured } from './context.js'

export interface CeilingC {
  id: 'ceiling-c'
  label: string
  hashes: number
  seconds: number
  hashesPerSec: number
  latencyMs: { p50: number; p99: number }
  cpuMs: number
  params: { memoryKiB: number; timeCost: number; parallelism: number }
  uvThreadpoolSize: number
  concurrency: number
  /** cores' worth of other work on the machine during the run */
  otherCores: number | null
  attempts: number
}

export async function ceilingC(ctx: Ctx): Promise<CeilingC> {
  const concurrency = ctx.settings.loginConnections
  ctx.log(`  ceiling C: argon2id hashes, ${concurrency} in flight, ${ctx.settings.seconds} s`)
  const p = await forkProcess('ceiling-c', 'bench/ceilings/argon2.ts', ctx.env, { waitForListening: false })
  try {
    if (ctx.settings.warmupSec > 0) await p.ask({ run: { durationMs: ctx.settings.warmupSec * 1000, concurrency } })
    let best: CeilingC | null = null
    for (let attempt = 1; attempt <= ctx.settings.retryBusy + 1; attempt++) {
      const h0 = await hostSnapshot(ctx.postmaster)
      const { answer } = await p.ask<{ answer: Omit<CeilingC, 'id' | 'label' | 'concurrency' | 'otherCores' | 'attempts'> }>({
        run: { durationMs: ctx.settings.seconds * 1000, concurrency },
      })
      const otherCores = hostDelta(h0, await hostSnapshot(ctx.postmaster)).otherCores
      ctx.log(`    ${answer.hashesPerSec.toFixed(1)} hashes/s, p50 ${answer.latencyMs.p50.toFixed(1)} ms` + ((otherCores ?? 0) > BUSY_HOST_CORES ? ` (other work on the host: ${otherCores!.toFixed(2)} cores)` : ''))
      const c: CeilingC = { id: 'ceiling-c', label: 'ceiling C: raw argon2id hashes/s', ...answer, concurrency, otherCores, attempts: attempt }
      if (best === null || (c.otherCores ?? 0) < (best.otherCores ?? 0)) best = c
      if ((c.otherCores ?? 0) <= BUSY_HOST_CORES) break
    }
    return best!
  } finally {
    await p.stop()
  }
}

export function loginSpec(emails: string[], password: string): RequestSpec {
  let i = 0
  return {
    method: 'POST',
    path: '/auth/login',
    headers: { 'content-type': 'application/json' },
    next: () => ({ body: JSON.stringify({ email: emails[i++ % emails.length], password }) }),
  }
}

export async function loginRun(ctx: Ctx, dep: Deployment, emails: string[], password: string): Promise<Measured> {
  const m = await measure(
    ctx,
    dep,
    { id: 'login', label: 'POST /auth/login', dataset: '1k', ceilingId: 'ceiling-c' },
    loginSpec(emails, password),
    { connections: ctx.settings.loginConnections, admin: ctx.db.admin },
  )
  if (m.load.non2xx > 0 || m.load.errors > 0) m.notes.push(`UNEXPECTED: ${m.load.non2xx} non-2xx, ${m.load.errors} errors`)
  return m
}
