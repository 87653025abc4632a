import pg from 'pg'
import { writeFileSync } from 'node:fs'
import { seedSessions } from './bench/lib/seed.js'
const db = new pg.Pool({ connectionString: process.env.DATABASE_URL })
const s = await seedSessions(db, Number(process.env.N ?? 30000))
writeFileSync('/tmp/prof/tokens.json', JSON.stringify(s.map((x) => x.refreshToken)))
await db.end()
