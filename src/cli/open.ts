// What every operator command needs first: the configuration, the database the server uses
// (the embedded one when DATABASE_URL is unset, started here if no server runs it), the
// composition root on a small pool, and a refusal to work on a schema the server has not
// migrated yet: the commands act by rules that schema may not match.
import { ConfigError, loadConfig, type Config } from '../server/config.js'
import { openDatabase } from '../server/database.js'
import { readMigrations, unappliedMigrations } from '../db/migrate.js'
import { resolveAuthOptions } from '../options.js'
import { createCore, type Core, type CoreLogger } from '../core.js'

/** A refusal the operator can act on: printed as its message alone, exit code 2. */
export class CliError extends Error {}

export interface CliContext {
  config: Config
  core: Core
  close(): Promise<void>
}

// Log lines go to stderr as JSON, so a command's stdout stays one JSON line for scripts.
const stderrLog: CoreLogger = {
  child: () => stderrLog,
  info: (obj, msg) => console.error(JSON.stringify({ level: 'info', msg, ...obj })),
  warn: (obj, msg) => console.error(JSON.stringify({ level: 'warn', msg, ...obj })),
  error: (obj, msg) => console.error(JSON.stringify({ level: 'error', msg, ...obj })),
  debug: () => {},
}

export async function openCli(command: string): Promise<CliContext> {
  const config = loadConfig()
  const database = await openDatabase(config, (line) => console.error(line))
  const core = createCore(resolveAuthOptions({ ...config.auth, database: database.url }), { log: stderrLog, poolSize: 2 })
  const close = async () => {
    await core.close()
    await database.stop()
  }
  try {
    const expected = (await readMigrations()).map((m) => m.name)
    const missing = await unappliedMigrations(core.db.pool, expected).catch((err: { code?: string }) => {
      if (err.code === '42P01') return expected // undefined_table: never migrated at all
      throw err
    })
    if (missing.length > 0) throw new CliError(`${command}: the database lacks migrations ${missing.join(', ')}; run npm run migrate (or start the server once)`)
  } catch (err) {
    await close()
    throw err
  }
  return { config, core, close }
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
