// Bulk data for the data-size and login runs, generated inside PostgreSQL (generate_series),
// in a few large statements: a million families must not cost a million round trips.
import type pg from 'pg'

/**
 * `count` filler families, 10 per filler user, each with one live refresh token whose raw
 * value nobody knows (the hash is of the family id). Batches run on two connections at once.
 */
export async function seedFillerFamilies(db: pg.Pool, count: number, batch = 100_000): Promise<void> {
  const perUser = 10
  const ranges: [number, number][] = []
  for (let start = 0; start < count; start += batch) ranges.push([start, Math.min(count, start + batch)])
  const worker = async () => {
    const client = await db.connect()
    try {
      // Nothing here needs to survive a crash before the checkpoint that follows.
      await client.query('SET synchronous_commit = off')
      for (let r = ranges.shift(); r; r = ranges.shift()) {
        const [from, to] = r
        const users = Math.ceil((to - from) / perUser)
        await client.query(
          `WITH u AS (
             INSERT INTO auth.users (id, email, password_hash, updated_at)
             SELECT gen_random_uuid(), 'filler-' || ($1::int + g) || '@example.com', 'not-a-hash', now()
             FROM generate_series(0, $2::int - 1) g
             RETURNING id
           ), f AS (
             INSERT INTO auth.token_families (id, user_id, created_at, last_used_at, expires_at)
             SELECT gen_random_uuid(), u.id, now() - interval '1 day', now() - interval '1 hour', now() + interval '89 days'
             FROM u CROSS JOIN generate_series(1, $3::int)
             RETURNING id
           )
           INSERT INTO auth.refresh_tokens (id, token_hash, family_id, expires_at)
           SELECT gen_random_uuid(), encode(sha256(convert_to(f.id::text, 'UTF8')), 'hex'), f.id, now() + interval '29 days'
           FROM f`,
          [from, users, perUser],
        )
      }
    } finally {
      client.release()
    }
  }
  await Promise.all([worker(), worker()])
}

/** `count` users who all have the password `password`, with the one precomputed hash. */
export async function seedLoginUsers(db: pg.Pool, count: number, passwordHash: string): Promise<string[]> {
  await db.query(
    `INSERT INTO auth.users (id, email, password_hash, updated_at)
     SELECT gen_random_uuid(), 'login-' || g || '@example.com', $2, now()
     FROM generate_series(0, $1::int - 1) g`,
    [count, passwordHash],
  )
  return Array.from({ length: count }, (_, i) => `login-${i}@example.com`)
}

/** Statistics, visibility map and a checkpoint, so a bulk load's after-effects do not land in a measured run. */
export async function settle(db: pg.Pool): Promise<void> {
  await db.query('VACUUM (ANALYZE) auth.users, auth.token_families, auth.refresh_tokens')
  // Needs superuser (the embedded server's user is); elsewhere the server checkpoints itself.
  await db.query('CHECKPOINT').catch(() => undefined)
}

export async function familyCount(db: pg.Pool): Promise<number> {
  return Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM auth.token_families')).rows[0]!.n)
}
