// Our own pool straight to Postgres prepares each statement once per connection; a pool behind
// a transaction pooler, and a host's pool, prepare nothing (the next transaction may land on a
// server connection that never saw the statement). Read from pg_prepared_statements of the
// one connection each pool holds.
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createDb, dbOnHostPool, type Db } from '../../src/db/client.js'
import { rows, sql } from '../../src/db/sql.js'
import { createTestDatabase } from '../helpers/database.js'

let database: Awaited<ReturnType<typeof createTestDatabase>>
const opened: Db[] = []
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()))
  await database.drop()
})

const own = (pooled: boolean) => {
  const db = createDb({ url: database.url, poolSize: 1, statementTimeoutMs: 5000, lockTimeoutMs: 1000, connectTimeoutMs: 1000, pooled })
  opened.push(db)
  return db
}

async function preparedAfterTwoCalls(db: Db): Promise<{ name: string; statement: string }[]> {
  for (const n of [1, 2]) expect(await rows(db.pool, sql`SELECT ${n}::int + 1 AS n`)).toEqual([{ n: n + 1 }])
  return (await db.pool.query<{ name: string; statement: string }>('SELECT name, statement FROM pg_prepared_statements')).rows
}

it('prepares a statement once on its own pool straight to Postgres, and runs it again from there', async () => {
  const prepared = await preparedAfterTwoCalls(own(false))
  expect(prepared).toHaveLength(1)
  expect(prepared[0]!.statement).toBe('SELECT $1::int + 1 AS n')
})

it('prepares nothing through a transaction pooler, nor on a host pool', async () => {
  expect(await preparedAfterTwoCalls(own(true))).toEqual([])
  const hostPool = new pg.Pool({ connectionString: database.url, max: 1 })
  const onHost = dbOnHostPool(hostPool)
  try {
    expect(await preparedAfterTwoCalls(onHost)).toEqual([])
  } finally {
    await onHost.close()
    await hostPool.end()
  }
})

it('runs a statement unprepared once when the prepared one no longer matches its table, then prepares it afresh', async () => {
  const db = own(false)
  await db.pool.query('CREATE TABLE public.shape (a int)')
  await db.pool.query('INSERT INTO public.shape VALUES (1)')
  const read = () => rows<Record<string, number>>(db.pool, sql`SELECT * FROM public.shape WHERE a = ${1}::int`)
  const preparedNames = async () =>
    (await db.pool.query<{ name: string }>(`SELECT name FROM pg_prepared_statements WHERE statement LIKE '%public.shape%'`)).rows.map((r) => r.name)
  expect(await read()).toEqual([{ a: 1 }])
  const [before] = await preparedNames()
  expect(before).toBeDefined()
  // A rolling deploy's migration: the prepared statement's result would change its columns,
  // which Postgres refuses (0A000, cached plan must not change result type).
  await db.pool.query('ALTER TABLE public.shape ADD COLUMN b int DEFAULT 2')
  expect(await read()).toEqual([{ a: 1, b: 2 }])
  expect(await read()).toEqual([{ a: 1, b: 2 }])
  const after = await preparedNames()
  expect(after.filter((name) => name !== before)).toHaveLength(1)
})
