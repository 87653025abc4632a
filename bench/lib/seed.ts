// Creates users and sessions straight in SQL, in bulk: benchmarks measure refresh and the
// access path, not how fast the API can be used to set itself up.
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { hashRefreshToken, newRefreshToken } from '../../dist/tokens/refresh-token.js'

export interface SeededSession {
  userId: string
  familyId: string
  refreshToken: string
}

/**
 * `count` sessions, each its own token family with one live refresh token. By default they all
 * belong to one user; `distinctUsers` gives each session a user of its own (the access runs
 * stand for many users, each with their token).
 */
export async function seedSessions(db: pg.Pool, count: number, opts: { distinctUsers?: boolean } = {}): Promise<SeededSession[]> {
  const oneUser = randomUUID()
  if (!opts.distinctUsers) await insertUsers(db, [oneUser])
  const sessions: SeededSession[] = []
  for (let offset = 0; offset < count; offset += 5000) {
    const batch = Array.from({ length: Math.min(5000, count - offset) }, () => ({
      userId: opts.distinctUsers ? randomUUID() : oneUser,
      familyId: randomUUID(),
      refreshToken: newRefreshToken(),
    }))
    if (opts.distinctUsers) await insertUsers(db, batch.map((s) => s.userId))
    await db.query(
      `INSERT INTO auth.token_families (id, user_id, expires_at)
       SELECT unnest($1::uuid[]), unnest($2::uuid[]), now() + interval '90 days'`,
      [batch.map((s) => s.familyId), batch.map((s) => s.userId)],
    )
    await db.query(
      `INSERT INTO auth.refresh_tokens (id, token_hash, family_id, expires_at)
       SELECT gen_random_uuid(), unnest($1::text[]), unnest($2::uuid[]), now() + interval '30 days'`,
      [batch.map((s) => hashRefreshToken(s.refreshToken)), batch.map((s) => s.familyId)],
    )
    sessions.push(...batch)
  }
  return sessions
}

/** Every seeded session's user has this address. */
async function insertUsers(db: pg.Pool, ids: string[]): Promise<void> {
  await db.query(
    `INSERT INTO auth.users (id, email, password_hash, updated_at)
     SELECT id, 'bench-' || id || '@example.com', 'not-a-hash', now() FROM unnest($1::uuid[]) AS id`,
    [ids],
  )
}
