// `npm run cleanup`: one run of the cleanup job (the same code the server runs periodically),
// then exit. Prints what it deleted as one JSON line.
import { ConfigError, loadConfig } from '../config.js'
import { createDb } from '../db/client.js'
import { openDatabase } from '../db/open.js'
import { TokenStore } from '../tokens/token-store.js'
import { LoginAttemptStore } from '../limits/login-attempt-store.js'
import { AuditStore } from '../audit/audit-store.js'
import { cleanupPlan, runCleanup } from '../jobs/cleanup.js'
import { readMigrations, unappliedMigrations } from '../db/migrate.js'

async function main(): Promise<void> {
  const config = loadConfig()
  const database = await openDatabase(config, (line) => console.error(line))
  const db = createDb({
    url: database.url,
    poolSize: 2,
    statementTimeoutMs: config.db.statementTimeoutMs,
    lockTimeoutMs: config.db.lockTimeoutMs,
    connectTimeoutMs: config.db.lockTimeoutMs,
  })
  try {
    // Migrations are the server's to apply (on start); on an older schema this job would
    // delete by rules the schema does not match yet.
    const missing = await unappliedMigrations(db.pool, (await readMigrations()).map((m) => m.name))
    if (missing.length > 0) {
      console.error(`cleanup: the database lacks migrations ${missing.join(', ')}; start the server once to apply them`)
      process.exitCode = 1
      return
    }
    const stores = {
      tokens: new TokenStore(db.prisma, config.db),
      attempts: new LoginAttemptStore(db.prisma, config.db),
      audit: new AuditStore(db.prisma),
    }
    const result = await runCleanup(stores, cleanupPlan(config))
    console.log(JSON.stringify(result))
  } finally {
    await db.close()
    await database.stop()
  }
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err)
  process.exit(1)
})
