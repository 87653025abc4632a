// The database a process uses: DATABASE_URL, or else the embedded PostgreSQL in DATA_DIR
// (started here unless another process of this project already runs it).
import { join } from 'node:path'
import type { Config } from './config.js'
import { startEmbeddedPostgres } from '../db/embedded.js'

export interface OpenDatabase {
  url: string
  /** stops the embedded server if this process started it; otherwise nothing */
  stop(): Promise<void>
}

export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'embeddedPgPort'>, log: (line: string) => void = console.log): Promise<OpenDatabase> {
  if (config.databaseUrl !== null) return { url: config.databaseUrl, stop: async () => {} }
  const started = Date.now()
  const dataDir = join(config.dataDir, 'postgres')
  const db = await startEmbeddedPostgres({ dataDir, port: config.embeddedPgPort })
  log(`embedded Postgres ${db.owned ? `started in ${Date.now() - started} ms` : 'already running'} on port ${db.port} (data: ${dataDir})`)
  return { url: db.url, stop: db.stop }
}
