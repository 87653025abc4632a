// POST /auth/refresh, every request rotating a family no other request has touched (as long as
// the run makes fewer requests than it has families, which is checked and reported), against
// ceiling B: one 1-row UPDATE transaction per request through pg, same pool, same database.
import { readdir, readFile, readlink } from 'node:fs/promises'
import type pg from 'pg'
import type { RequestSpec } from '../lib/load.js'
import { TokenQueue } from '../lib/token-queue.js'
import { deploy, measure, measureAlternating, type Ctx, type Deployment, type Measured } from './context.js'
import { pairedId } from '../report.js'

export interface RefreshFigures {
  families: number
  tokensTaken: number
  rotationsAnswered: number
  refused: number
  /** 503 answers (database busy: nothing changed, the token was used again later) */
  retried: number
  /** every request, warm-up included, rotated a family no earlier request had */
  everyRequestOwnFamily: boolean
  /** connections the server processes held on the database after the run */
  dbConnections: number
}

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

// Same request shape as a refresh (the body is parsed and ignored).
const CEILING_B_SPEC: RequestSpec = {
  method: 'POST',
  path: '/auth/refresh',
  headers: { 'content-type': 'application/json' },
  next: () => ({ body: '{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}' }),
}

export const deployCeilingB = (ctx: Ctx, rows: number, instances = 1) => deploy(ctx, 'ceilingB', instances, { CEILING_B_ROWS: String(rows) })

export async function ceilingB(ctx: Ctx, rows: number, instances = 1): Promise<Measured> {
  const dep = await deployCeilingB(ctx, rows, instances)
  try {
    const spec = CEILING_B_SPEC
    const m = await measure(
      ctx,
      dep,
      { id: `ceiling-b${instances > 1 ? `-x${instances}` : ''}`, label: `ceiling B: pg BEGIN; UPDATE 1 row; COMMIT${instances > 1 ? `, ${instances} processes` : ''}` },
      spec,
      { admin: ctx.db.admin },
    )
    m.notes.push(`round-robin over ${rows} token_families rows`)
    return m
  } finally {
    await dep.stop()
  }
}

/**
 * One refresh run; with `pairWith` (a running ceiling B), measured in rounds alternating with
 * it, and that ceiling's figures returned first under pairedId('ceiling-b', id) (see accessRun).
 */
export async function refreshRun(
  ctx: Ctx,
  args: { id: string; label: string; tokens: string[]; instances?: number; dep?: Deployment },
  pairWith?: Deployment,
): Promise<[...Measured[], Measured & { refresh: RefreshFigures }]> {
  const dep = args.dep ?? (await deploy(ctx, 'server', args.instances ?? 1))
  try {
    const queue = new TokenQueue(args.tokens)
    const meta = { id: args.id, label: args.label }
    const opts = { admin: ctx.db.admin }
    let ceiling: Measured | null = null
    let m: Measured
    if (pairWith) {
      const paired = { id: pairedId('ceiling-b', args.id), label: `ceiling B: pg BEGIN; UPDATE 1 row; COMMIT (alternating with ${args.label})` }
      ;[ceiling, m] = await measureAlternating(ctx, [{ dep: pairWith, meta: paired, spec: CEILING_B_SPEC, opts }, { dep, meta, spec: refreshSpec(queue), opts }], REFRESH_ROUNDS)
    } else {
      m = await measure(ctx, dep, meta, refreshSpec(queue), opts)
    }
    const families = args.tokens.length
    const refresh: RefreshFigures = {
      families,
      tokensTaken: queue.taken,
      rotationsAnswered: queue.returned,
      refused: queue.refused,
      retried: queue.retried,
      everyRequestOwnFamily: queue.taken <= families,
      dbConnections: await dbConnections(ctx.db.admin, dep.procs.map((p) => p.pid)),
    }
    m.notes.push(
      refresh.everyRequestOwnFamily
        ? `${families} families: every request rotated a family of its own`
        : `only ${families} families for ${queue.taken} rotations: families came round again (never two requests on one at once); raise the known families`,
    )
    const run = Object.assign(m, { refresh })
    return ceiling ? [ceiling, run] : [run]
  } finally {
    if (!args.dep) await dep.stop()
  }
}

const REFRESH_ROUNDS = 4

/**
 * Connections these processes hold on the bench database: the backends whose client port is
 * one of their sockets' (a ceiling kept up beside them holds its own, not counted).
 */
export async function dbConnections(admin: pg.Pool, pids: number[]): Promise<number> {
  const ports = (await Promise.all(pids.map(localPorts))).flat()
  const r = await admin.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_stat_activity
     WHERE datname = current_database() AND backend_type = 'client backend' AND client_port = ANY($1::int[])`,
    [ports],
  )
  return Number(r.rows[0]!.n)
}

/** The local TCP ports of a process's sockets, from /proc (none elsewhere). */
async function localPorts(pid: number): Promise<number[]> {
  try {
    const inodes = new Set<string>()
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
      const m = /^socket:\[(\d+)\]$/.exec(target)
      if (m) inodes.add(m[1]!)
    }
    const ports: number[] = []
    for (const table of ['tcp', 'tcp6']) {
      const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '')
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/)
        // local_address is "ADDR:PORT" in hex; the inode is the tenth field
        if (f.length > 9 && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16))
      }
    }
    return ports
  } catch {
    return []
  }
}
