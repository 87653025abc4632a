// Used by the Prisma CLI only (generate, and migrate status/deploy for users who have the
// schema engine). The app itself builds its connection string in src/config.ts.
import { defineConfig } from 'prisma/config'

// Without DATABASE_URL: the embedded PostgreSQL that `npm start` runs (src/db/embedded.ts),
// so `npx prisma migrate status` looks at the same database the server migrated.
const embedded = `postgresql://postgres:postgres@127.0.0.1:${process.env.EMBEDDED_PG_PORT ?? 54329}/postgres`

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? embedded },
})
