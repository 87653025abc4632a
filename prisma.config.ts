// Used by the Prisma CLI only (generate, and migrate status/deploy for users who have the
// schema engine). The app itself builds its connection string in src/config.ts.
import { join, resolve } from 'node:path'
import { defineConfig } from 'prisma/config'
import { embeddedUrls, readEmbeddedCredentials } from './src/db/embedded.js'
import { AUTH_SCHEMA } from './src/db/migrate.js'

// Without DATABASE_URL: the embedded PostgreSQL that `npm start` runs in DATA_DIR
// (src/db/embedded.ts), as the app's own role, so `npx prisma migrate status` looks at the same
// database the server migrated.
function embeddedUrl(): string {
  const dataDir = join(resolve(process.env.DATA_DIR?.trim() || '.data'), 'postgres')
  const port = Number(process.env.EMBEDDED_PG_PORT?.trim() || 54329)
  const credentials = readEmbeddedCredentials(dataDir)
  // Never started yet: `prisma generate` (run by npm install) needs no database, and anything
  // that does gets a login failure rather than a guess at a password.
  if (credentials === null) return `postgresql://auth@127.0.0.1:${port}/auth`
  return embeddedUrls(credentials, port).url
}

// Prisma's migrate commands keep their bookkeeping in the first schema of the search path, which
// is the connection string's `schema` (public when absent). Ours is auth._prisma_migrations
// (src/db/migrate.ts), so the CLI is pointed at auth whatever the URL said: a DATABASE_URL
// shared with a host's Prisma may say public, and `prisma migrate status` would then report the
// host's migrations as ours.
function inAuthSchema(url: string): string {
  const parsed = new URL(url)
  parsed.searchParams.set('schema', AUTH_SCHEMA)
  return parsed.toString()
}

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: inAuthSchema(process.env.DATABASE_URL?.trim() || embeddedUrl()) },
})
