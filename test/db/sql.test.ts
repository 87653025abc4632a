import { expect, it } from 'vitest'
import { execute, raw, rows, sql } from '../../src/db/sql.js'

it('numbers each value as a parameter in order, and splices a Raw in as it is', () => {
  const s = sql`SELECT ${raw('u.id, u.email')} FROM auth.users u WHERE u.email = ${'a@example.com'}::text AND u.id <> ${null}::uuid LIMIT ${5}`
  expect(s.text).toBe('SELECT u.id, u.email FROM auth.users u WHERE u.email = $1::text AND u.id <> $2::uuid LIMIT $3')
  expect(s.values).toEqual(['a@example.com', null, 5])
})

it('runs on a pool, or on a Prisma transaction handed in by the caller', async () => {
  const s = sql`DELETE FROM t WHERE k = ${'x'}`
  const seen: unknown[] = []
  const pool = { query: async (q: unknown) => (seen.push(['pool', q]), { rows: [{ n: 1 }], rowCount: 3 }) }
  const tx = {
    $queryRawUnsafe: async (...a: unknown[]) => (seen.push(['tx rows', ...a]), [{ n: 2 }]),
    $executeRawUnsafe: async (...a: unknown[]) => (seen.push(['tx execute', ...a]), 4),
  }
  expect(await rows(pool as never, s)).toEqual([{ n: 1 }])
  expect(await execute(pool as never, s)).toBe(3)
  expect(await rows(tx as never, s)).toEqual([{ n: 2 }])
  expect(await execute(tx as never, s)).toBe(4)
  expect(seen).toEqual([
    ['pool', { text: 'DELETE FROM t WHERE k = $1', values: ['x'] }],
    ['pool', { text: 'DELETE FROM t WHERE k = $1', values: ['x'] }],
    ['tx rows', 'DELETE FROM t WHERE k = $1', 'x'],
    ['tx execute', 'DELETE FROM t WHERE k = $1', 'x'],
  ])
})
