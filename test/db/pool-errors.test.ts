// A pooled connection that dies while checked out between statements (Postgres restarting
// under load, an admin terminating it) must not crash the process: the loss shows up as the
// next statement's error, and the pool replaces the connection. Found by the outage test
// under concurrent traffic, as an uncaught 57P01 from pg.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createDb, type Db } from '../../src/db/client.js'
import { adminQuery, createTestDatabase } from '../helpers/database.js'

let database: Awaited<ReturnType<typeof createTestDatabase>>
let db: Db
beforeAll(async () => {
  database = await createTestDatabase()
  db = createDb({ url: database.url, poolSize: 2, statementTimeoutMs: 5000, lockTimeoutMs: 1000, connectTimeoutMs: 1000 })
})
afterAll(async () => {
  await db.close()
  await database.drop()
})

it('a checked-out connection terminated between statements fails its next statement, and the pool goes on', async () => {
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown) => uncaught.push(err)
  process.on('uncaughtException', onUncaught)
  try {
    const client = await db.pool.connect()
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    await adminQuery('SELECT pg_terminate_backend($1)', [rows[0]!.pid], database.url)
    // Give the termination notice time to arrive while the client sits checked out.
    await new Promise((r) => setTimeout(r, 300))
    await expect(client.query('SELECT 1')).rejects.toThrow()
    client.release(true)
    expect(uncaught).toEqual([])
    expect((await db.pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  } finally {
    process.off('uncaughtException', onUncaught)
  }
})
