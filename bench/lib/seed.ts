// Creates users and sessions straight in SQL, in bulk: benchmarks measure refresh and the
// access path, not how fast the API can be used to set itself up.
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { hashRefreshToken, newRefreshToken } from '../../src/tokens/refresh-token.js'

export interface SeededSession {
  userId: string
  familyId: string
  refreshToken: string
}

export async function seedSessions(db: pg.Pool, count: number): Promise<SeededSession[]> {
  const userId = randomUUID()
  await db.query(
    `INSERT INTO auth.users (id, email, password_hash, updated_at) VALUES ($1, $2, 'not-a-hash', now())`,
    [userId, `bench-${userId}@example.com`],
  )
  const sessions: SeededSession[] = []
  for (let offset = 0; offset < count; offset += 5000) {
    const batch = Array.from({ length: Math.min(5000, count - offset) }, () => ({
      userId,
      familyId: randomUUID(),
      refreshToken: newRefreshToken(),
    }))
    await db.query(
      `INSERT INTO auth.token_families (id, user_id, expires_at)
       SELECT unnest($1::uuid[]), $2, now() + interval '90 days'`,
      [batch.map((s) => s.familyId), userId],
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
