// What every operator command needs first: the configuration, the database the server uses
// (the embedded one when DATABASE_URL is unset, started here if no server runs it), a small
// pool, and a refusal to work on a schema the server has not migrated yet: the commands act
// by rules that schema may not match.
import { ConfigError, loadConfig, type Config } from '../config.js'
import { createDb, type Db } from '../db/client.js'
import { openDatabase } from '../db/open.js'
import { readMigrations, unappliedMigrations } from '../db/migrate.js'

/** A refusal the operator can act on: printed as its message alone, exit code 2. */
export class CliError extends Error {}

export interface CliDatabase {
  config: Config
  db: Db
  close(): Promise<void>
}

export async function openCliDatabase(command: string): Promise<CliDatabase> {
  const config = loadConfig()
  const database = await openDatabase(config, (line) => console.error(line))
  const db = createDb({
    url: database.url,
    poolSize: 2,
    statementTimeoutMs: config.db.statementTimeoutMs,
    lockTimeoutMs: config.db.lockTimeoutMs,
    connectTimeoutMs: config.db.lockTimeoutMs,
  })
  const close = async () => {
    await db.close()
    await database.stop()
  }
  try {
    const expected = (await readMigrations()).map((m) => m.name)
    const missing = await unappliedMigrations(db.pool, expected).catch((err: { code?: string }) => {
      if (err.code === '42P01') return expected // undefined_table: never migrated at all
      throw err
    })
    if (missing.length > 0) throw new CliError(`${command}: the database lacks migrations ${missing.join(', ')}; start the server once to apply them`)
  } catch (err) {
    await close()
    throw err
  }
  return { config, db, close }
}

/** Runs a command's main: a CliError or a configuration problem exits 2 with its message. */
export function runCli(main: () => Promise<void>): void {
  main().catch((err) => {
    if (err instanceof CliError || err instanceof ConfigError) {
      console.error(err.message)
      process.exit(2)
    }
    console.error(err)
    process.exit(1)
  })
}
