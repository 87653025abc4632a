// Ceiling B: one short write transaction per request, straight through pg, on the same
// database, with the same pool (size, timeouts) the server builds. POST /auth/refresh takes
// the same JSON body as the real route, then BEGIN; UPDATE one token_families row (a
// different row each request, round-robin over CEILING_B_ROWS rows); COMMIT. Refresh does
// strictly more (a locking read, a read, spend+mint+touch, through Prisma), so its rate is at
// most this one.
import Fastify from 'fastify'
import { loadConfig } from '../../src/server/config.js'
import { createDb } from '../../src/db/client.js'
import { fastifyOptions } from '../../src/server/app.js'
import { serveIpc } from './common.js'

const config = loadConfig()
if (!config.databaseUrl) throw new Error('DATABASE_URL is required')
const db = createDb({
  url: config.databaseUrl,
  poolSize: config.db.poolSize,
  statementTimeoutMs: config.db.statementTimeoutMs,
  lockTimeoutMs: config.db.lockTimeoutMs,
  connectTimeoutMs: config.db.lockTimeoutMs,
})
const rowCount = Number(process.env.CEILING_B_ROWS ?? 1000)
const ids = (await db.pool.query<{ id: string }>('SELECT id FROM auth.token_families ORDER BY id LIMIT $1', [rowCount])).rows.map((r) => r.id)
if (ids.length === 0) throw new Error('no token_families rows to update')
let next = 0

const app = Fastify(fastifyOptions(config))
const Body = {
  type: 'object',
  properties: { refresh_token: { type: 'string', minLength: 1, maxLength: 4096 } },
} as const

app.post('/auth/refresh', { schema: { body: Body } }, async () => {
  const id = ids[next++ % ids.length]
  const client = await db.pool.connect()
  try {
    await client.query('BEGIN')
    const r = await client.query('UPDATE auth.token_families SET last_used_at = now() WHERE id = $1', [id])
    await client.query('COMMIT')
    if (r.rowCount !== 1) throw new Error('ceiling row vanished')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    client.release()
  }
  return { ok: true }
})
app.addHook('onClose', () => db.close())

await app.listen({ host: config.host, port: config.port })
serveIpc({ listening: (app.server.address() as { port: number }).port, rows: ids.length }, () => ({ dbQueries: db.queryCount() }))
