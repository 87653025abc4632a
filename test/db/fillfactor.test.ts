// A rotation updates two rows: it spends the presented token and touches its family. Both
// tables keep room on each page (fillfactor 90), so these updates stay on the row's own page
// and are heap-only (HOT): no new entry in any of the tables' indexes. Here both rows sit on a
// page that inserts have filled as far as they may; with fillfactor 100 neither update would
// fit on it.
import { randomBytes, randomUUID } from 'node:crypto'
import { expect, it } from 'vitest'
import { testDatabaseConnection } from '../helpers/database.js'

const client = testDatabaseConnection()

const hash = () => randomBytes(32).toString('hex')
const block = async (table: string, id: string) =>
  Number((await client.query(`SELECT (ctid::text::point)[0] AS b FROM auth.${table} WHERE id = $1`, [id])).rows[0].b)

it('both tables are created with room for updates', async () => {
  const { rows } = await client.query(
    `SELECT relname, reloptions FROM pg_class WHERE relnamespace = 'auth'::regnamespace AND relname IN ('refresh_tokens', 'token_families') ORDER BY relname`,
  )
  expect(rows).toEqual([
    { relname: 'refresh_tokens', reloptions: ['fillfactor=90'] },
    { relname: 'token_families', reloptions: ['fillfactor=90'] },
  ])
})

it('a rotation of a token on a filled page spends it and touches its family without leaving their pages', async () => {
  const userId = randomUUID()
  await client.query(`INSERT INTO auth.users (id, email, password_hash, updated_at) VALUES ($1, $2, 'x', now())`, [userId, `${userId}@example.com`])
  const first = { family: randomUUID(), token: randomUUID(), hash: hash() }
  // Families with a token each, until both tables have moved on to their second page.
  for (let i = 0; ; i++) {
    const pair = i === 0 ? first : { family: randomUUID(), token: randomUUID(), hash: hash() }
    await client.query(`INSERT INTO auth.token_families (id, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')`, [pair.family, userId])
    await client.query(
      `INSERT INTO auth.refresh_tokens (id, token_hash, family_id, created_at, expires_at) VALUES ($1, $2, $3, now(), now() + interval '1 hour')`,
      [pair.token, pair.hash, pair.family],
    )
    if ((await block('token_families', pair.family)) > 0 && (await block('refresh_tokens', pair.token)) > 0) break
    expect(i).toBeLessThan(1000)
  }
  expect([await block('token_families', first.family), await block('refresh_tokens', first.token)]).toEqual([0, 0])

  await client.query('BEGIN')
  try {
    const { rows } = await client.query(
      `SELECT kind FROM auth.rotate_refresh_token($1, $2, $3, 3600000, 0, NULL, 60000, true, NULL, 1000)`,
      [first.hash, hash(), randomUUID()],
    )
    expect(rows).toEqual([{ kind: 'rotate' }])
    const { rows: [counts] } = await client.query(
      `SELECT pg_stat_get_xact_tuples_updated('auth.refresh_tokens'::regclass) AS tokens_updated,
              pg_stat_get_xact_tuples_hot_updated('auth.refresh_tokens'::regclass) AS tokens_hot,
              pg_stat_get_xact_tuples_updated('auth.token_families'::regclass) AS families_updated,
              pg_stat_get_xact_tuples_hot_updated('auth.token_families'::regclass) AS families_hot`,
    )
    expect(counts).toEqual({ tokens_updated: '1', tokens_hot: '1', families_updated: '1', families_hot: '1' })
    expect([await block('token_families', first.family), await block('refresh_tokens', first.token)]).toEqual([0, 0])
  } finally {
    await client.query('ROLLBACK')
  }
})
