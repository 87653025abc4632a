// @ts-check
// Ceiling B: one short write transaction per request, straight through pg, on the same
// database, through the same pool the server builds (dist/db/client.js createDb: size,
// timeouts). POST /auth/refresh takes the same JSON body as the real route, then BEGIN; UPDATE
// one token_families row (a different row each request, round-robin over CEILING_B_ROWS
// rows); COMMIT. A refresh does strictly more (a locking read, a read, spend + mint + touch),
// so its rate is at most this one. Its statements are counted under the server's metric name,
// auth_db_statements_total, so the report reads both the same way.
import { Gauge } from 'prom-client'
import { createDb } from '../../dist/db/client.js'
import { ceilingApp, listen } from './common.js'

const { app, config, registry } = ceilingApp()
if (!config.databaseUrl) throw new Error('DATABASE_URL is required')
const db = createDb({
  url: config.databaseUrl,
  poolSize: config.db.poolSize,
  statementTimeoutMs: config.db.statementTimeoutMs,
  lockTimeoutMs: config.db.lockTimeoutMs,
  connectTimeoutMs: config.db.lockTimeoutMs,
})
new Gauge({
  name: 'auth_db_statements_total',
  help: 'SQL statements sent to the database',
  registers: [registry],
  collect() {
    this.set(db.queryCount())
  },
})
const rowCount = Number(process.env.CEILING_B_ROWS ?? 1000)
const ids = (await db.pool.query('SELECT id FROM auth.token_families ORDER BY id LIMIT $1', [rowCount])).rows.map((r) => String(r.id))
if (ids.length === 0) throw new Error('no token_families rows to update')
let next = 0

const Body = {
  type: 'object',
  properties: { refresh_token: { type: 'string', minLength: 1, maxLength: 4096 } },
}
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
await listen(app, config)
