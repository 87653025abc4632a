// The access path: GET /auth/me on the standalone server and GET /notes on a host app behind
// `app.authn.authenticate`, each with one token sent over and over and with many users'
// tokens in turn, against ceiling A (a bare route returning a constant) and ceiling A2 (the
// same plus one raw Ed25519 verification per request).
// Every access run gets a fresh process whose denylist catch-up is set to its longest interval
// (DENYLIST_SYNC_INTERVAL_MS=60000): it catches up once at start, then not for a minute, so
// within the run it has no reason to query the database at all. The count must be exactly 0,
// and is checked.
import type { RequestSpec } from '../lib/load.js'
import { deploy, measure, measureAlternating, type Ctx, type Deployment, type Kind, type Measured } from './context.js'
import { pairedId } from '../report.js'

export const ACCESS_ENV = { DENYLIST_SYNC_INTERVAL_MS: '60000' }

export function accessSpec(path: string, tokens: string[]): RequestSpec {
  let i = 0
  return { method: 'GET', path, next: () => ({ headers: { authorization: `Bearer ${tokens[i++ % tokens.length]}` } }) }
}

/**
 * Ceiling A or A2, loaded with the same requests as the many-tokens runs (the same rotating
 * Authorization headers, which the ceiling ignores).
 */
export async function accessCeiling(ctx: Ctx, which: 'A' | 'A2', tokens: string[], instances = 1): Promise<Measured> {
  const kind: Kind = which === 'A' ? 'ceilingA' : 'ceilingA2'
  const dep = await deploy(ctx, kind, instances)
  const what = which === 'A' ? 'bare route, constant' : 'bare route + 1 Ed25519 verify'
  try {
    return await measure(
      ctx,
      dep,
      {
        id: `ceiling-${which.toLowerCase()}${instances > 1 ? `-x${instances}` : ''}`,
        label: `ceiling ${which}: ${what}${instances > 1 ? `, ${instances} processes` : ''}`,
      },
      accessSpec('/auth/me', tokens),
    )
  } finally {
    await dep.stop()
  }
}

/**
 * One access run; with `pairWith` (a running ceiling A), measured in rounds alternating with
 * it, and that ceiling's own figures returned first, under pairedId('ceiling-a', id): on a
 * shared machine ceiling A measured 12,600/s in one bench run and 19,000/s in the next, so a
 * ratio against a ceiling measured minutes earlier says more about the machine than the code.
 */
export async function accessRun(
  ctx: Ctx,
  args: { id: string; label: string; kind: 'server' | 'hostApp'; path: string; tokens: string[]; instances?: number; env?: Record<string, string> },
  pairWith?: Deployment,
): Promise<Measured[]> {
  const dep = await deploy(ctx, args.kind, args.instances ?? 1, { ...ACCESS_ENV, ...args.env })
  try {
    const spec = accessSpec(args.path, args.tokens)
    let measured: Measured[]
    if (pairWith) {
      // Both sides' rounds (2 × BENCH_SECONDS, and the warm-ups) end before the process's
      // second denylist catch-up, 60 s after start.
      const ceiling = { id: pairedId('ceiling-a', args.id), label: `ceiling A: bare route, constant (alternating with ${args.label})` }
      // The ceiling answers its one route, whatever the figure's path: same headers otherwise.
      const ceilingSpec = accessSpec('/auth/me', args.tokens)
      measured = await measureAlternating(ctx, [{ dep: pairWith, meta: ceiling, spec: ceilingSpec }, { dep, meta: { id: args.id, label: args.label }, spec }], ACCESS_ROUNDS)
    } else {
      // Every attempt must end before the process's second denylist catch-up, 60 s after start.
      const perAttempt = ctx.settings.seconds + 2
      const maxAttempts = Math.max(1, Math.floor((50 - ctx.settings.warmupSec - ctx.settings.idleMs / 1000) / perAttempt))
      measured = [await measure(ctx, dep, { id: args.id, label: args.label }, spec, { maxAttempts })]
    }
    const m = measured[measured.length - 1]!
    const distinct = new Set(args.tokens).size
    m.notes.push(distinct === 1 ? 'one access token, every request' : `${distinct} users' access tokens in turn`)
    if (m.server.dbStatements !== 0) m.notes.push(`UNEXPECTED: ${m.server.dbStatements} database statements on the access path`)
    return measured
  } finally {
    await dep.stop()
  }
}

const ACCESS_ROUNDS = 4
