// POST /auth/refresh, every request rotating a family no other request in flight touches,
// against ceiling B (one 1-row UPDATE transaction per request through pg, same pool size,
// same database).
import type pg from 'pg'
import type { RequestSpec } from '../lib/load.js'
import { TokenQueue } from '../lib/token-queue.js'
import { measure, single, type Ctx, type Deployment, type Measured } from './context.js'

export function refreshSpec(queue: TokenQueue): RequestSpec {
  return {
    method: 'POST',
    path: '/auth/refresh',
    headers: { 'content-type': 'application/json' },
    next: () => {
      const token = queue.take()
      return { body: `{"refresh_token":"${token}"}`, tag: token }
    },
    onResponse: (status, body, token) => queue.answer(status, body, token),
  }
}

export async function ceilingB(ctx: Ctx, dataset: '1k' | '1M', rows: number): Promise<Measured> {
  const dep = await single(ctx, 'ceiling-b', 'bench/ceilings/pg-update.ts', { CEILING_B_ROWS: String(rows) })
  try {
    // Same request shape as a refresh (the body is parsed and ignored).
    const spec: RequestSpec = {
      method: 'POST',
      path: '/auth/refresh',
      headers: { 'content-type': 'application/json' },
      next: () => ({ body: '{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}' }),
    }
    const m = await measure(
      ctx,
      dep,
      { id: `ceiling-b-${dataset}`, label: 'ceiling B: pg BEGIN; UPDATE 1 row; COMMIT', dataset },
      spec,
      { admin: ctx.db.admin },
    )
    m.notes.push(`round-robin over ${rows} token_families rows, pool size ${process.env.DB_POOL_SIZE ?? 10}`)
    return m
  } finally {
    await dep.stop()
  }
}

export async function refreshRun(
  ctx: Ctx,
  dep: Deployment,
  args: { id: string; label: string; dataset: '1k' | '1M'; tokens: string[]; ceilingId: string },
): Promise<Measured & { refresh: Record<string, number | boolean> }> {
  const queue = new TokenQueue(args.tokens)
  const m = await measure(ctx, dep, { id: args.id, label: args.label, dataset: args.dataset, ceilingId: args.ceilingId }, refreshSpec(queue), {
    admin: ctx.db.admin,
  })
  const connections = await dbConnections(ctx.db.admin)
  const families = args.tokens.length
  const refresh = {
    families,
    tokensTaken: queue.taken,
    rotationsAnswered: queue.returned,
    refused: queue.refused,
    /** 503 answers (database busy: nothing changed, the token was used again later) */
    retried: queue.retried,
    /** every request (warm-up included) rotated a different family */
    everyRequestDistinctFamily: queue.taken <= families,
    dbQueriesPerRefresh: m.server.dbQueries !== null && m.load.ok > 0 ? m.server.dbQueries / m.load.ok : NaN,
    dbConnections: connections,
  }
  m.notes.push(
    refresh.everyRequestDistinctFamily
      ? `${families} families: every request rotated a different family`
      : `${families} families rotated round-robin (${queue.taken} rotations): no family is ever in two requests at once`,
  )
  if (m.load.non2xx > 0 || m.load.errors > 0) m.notes.push(`UNEXPECTED: ${m.load.non2xx} non-2xx, ${m.load.errors} errors`)
  return Object.assign(m, { refresh })
}

/** Connections the server instances hold on the bench database (the admin pool excluded). */
export async function dbConnections(admin: pg.Pool): Promise<number> {
  const r = await admin.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_stat_activity
     WHERE datname = current_database() AND backend_type = 'client backend' AND application_name <> 'bench-admin'`,
  )
  return Number(r.rows[0]!.n)
}
