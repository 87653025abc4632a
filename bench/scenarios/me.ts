// GET /me: the access path. Bearer and cookie, cycling through more distinct tokens than the
// server's verification cache holds, plus one run that repeats a single token (cache hits).
// Every /me run gets a fresh server whose denylist catch-up is set to its longest interval
// (DENYLIST_SYNC_INTERVAL_MS=60000), so within the run the server has no reason to query the
// database at all: the count must be exactly 0, and is checked.
import type { RequestSpec } from '../lib/load.js'
import { measure, server, single, direct, type Ctx, type Deployment, type Measured } from './context.js'

export const ME_SERVER_ENV = { DENYLIST_SYNC_INTERVAL_MS: '60000' }
/** COOKIE_SECURE is on under NODE_ENV=production, so the access cookie has the __Host- prefix. */
export const ACCESS_COOKIE = '__Host-access_token'

export function meSpec(tokens: string[], transport: 'bearer' | 'cookie'): RequestSpec {
  let i = 0
  return {
    method: 'GET',
    path: '/auth/me',
    next:
      transport === 'bearer'
        ? () => ({ headers: { authorization: `Bearer ${tokens[i++ % tokens.length]}` } })
        : () => ({ headers: { cookie: `${ACCESS_COOKIE}=${tokens[i++ % tokens.length]}` } }),
  }
}

/** Ceiling A: bare Fastify, same requests (same rotating Authorization headers). */
export async function ceilingA(ctx: Ctx, tokens: string[], instances = 1): Promise<Measured> {
  const dep =
    instances === 1
      ? await single(ctx, 'ceiling-a', 'bench/ceilings/bare-fastify.ts')
      : await direct(ctx, instances, {}, 'bench/ceilings/bare-fastify.ts')
  try {
    return await measure(
      ctx,
      dep,
      {
        id: instances === 1 ? 'ceiling-a' : `ceiling-a-x${instances}`,
        label: instances === 1 ? 'ceiling A: bare Fastify GET /me (constant)' : `ceiling A x${instances}: bare Fastify, ${instances} processes`,
        dataset: null,
      },
      meSpec(tokens, 'bearer'),
    )
  } finally {
    await dep.stop()
  }
}

export async function meRun(
  ctx: Ctx,
  args: { id: string; label: string; dataset: '1k' | '1M' | null; tokens: string[]; transport: 'bearer' | 'cookie'; ceilingId: string },
  deploy: () => Promise<Deployment> = () => server(ctx, ME_SERVER_ENV),
): Promise<Measured> {
  const dep = await deploy()
  try {
    // Every attempt must end before the server's first denylist catch-up, 60 s after start.
    const perAttempt = ctx.settings.seconds + 2
    const maxAttempts = Math.max(1, Math.floor((50 - ctx.settings.warmupSec) / perAttempt))
    const m = await measure(ctx, dep, { id: args.id, label: args.label, dataset: args.dataset, ceilingId: args.ceilingId }, meSpec(args.tokens, args.transport), {
      maxAttempts,
    })
    const distinct = new Set(args.tokens).size
    m.notes.push(
      distinct > 10_000
        ? `${distinct} distinct access tokens, more than the 10 000-entry verification cache: every request verifies a signature`
        : `${distinct} distinct access token(s): after the first request each verification is a cache hit`,
    )
    if (m.server.dbQueries !== 0) m.notes.push(`UNEXPECTED: ${m.server.dbQueries} database queries during /me`)
    if (m.load.non2xx > 0 || m.load.errors > 0) m.notes.push(`UNEXPECTED: ${m.load.non2xx} non-2xx, ${m.load.errors} errors`)
    return m
  } finally {
    await dep.stop()
  }
}
