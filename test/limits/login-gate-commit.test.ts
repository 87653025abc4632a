// The login's gate (auth.open_login, sent by LoginAttemptStore.open) commits asynchronously:
// its counters may be lost in a crash of the database, a session never is. The setting must hold
// for the gate's own transaction and end with it, so that the session's statement, the next one
// on the same connection, commits synchronously.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { LoginAttemptStore } from '../../src/limits/login-attempt-store.js'
import { createTestDatabase } from '../helpers/database.js'

let db: { url: string; drop(): Promise<void> }
// One connection: each statement below runs on the connection the gate ran on.
let pool: pg.Pool
let store: LoginAttemptStore
beforeAll(async () => {
  db = await createTestDatabase()
  pool = new pg.Pool({ connectionString: db.url, max: 1 })
  store = new LoginAttemptStore(pool, { lockTimeoutMs: 2000, statementTimeoutMs: 5000 }, { freeFailures: 5, baseSec: 1, maxSec: 900, resetSec: 900 })
})
afterAll(async () => {
  await pool.end()
  await db.drop()
})

const key = () => randomBytes(32).toString('hex')
const syncCommit = async () => (await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit
const gate = (ipLimit: { key: string; max: number; windowMs: number } | null) =>
  store.open({ accountKey: key(), below: 10, attemptKey: key(), email: 'nobody@example.com', ipLimit })

it('the gate commits its transaction asynchronously, with or without the IP limit in it', async () => {
  for (const ipLimit of [null, { key: key(), max: 100, windowMs: 60_000 }]) {
    await pool.query('BEGIN')
    try {
      expect(await syncCommit()).toBe('on')
      const result = await gate(ipLimit)
      expect(result).toMatchObject({ counted: true, decision: { allowed: true } })
      expect(await syncCommit()).toBe('off')
    } finally {
      await pool.query('ROLLBACK')
    }
  }
})

it('the statement after the gate on its connection (a login session) commits synchronously', async () => {
  await gate(null)
  expect(await syncCommit()).toBe('on')
  const refused = await gate({ key: key(), max: 0, windowMs: 60_000 })
  expect(refused).toMatchObject({ ipLimited: true })
  expect(await syncCommit()).toBe('on')
})
