#!/usr/bin/env node
// `npm run migrate`: applies the pending migrations to the server's database (DATABASE_URL, or
// the embedded one) and exits, for a deploy step that migrates before the new version starts.
// Prints what it applied as one JSON line. The server also migrates on start.
import { loadDatabaseConfig } from '../server/config.js'
import { openDatabase } from '../server/database.js'
import { migrate } from '../db/migrate.js'
import { runCli } from './open.js'

runCli(async () => {
  // The database alone: migrating needs no keys or secrets.
  const config = loadDatabaseConfig()
  const database = await openDatabase(config, (line) => console.error(line))
  try {
    // Past a transaction pooler, Prisma's advisory lock would not hold: the direct connection.
    const result = await migrate(config.databaseDirectUrl ?? database.url)
    console.log(JSON.stringify(result))
  } finally {
    await database.stop()
  }
})
