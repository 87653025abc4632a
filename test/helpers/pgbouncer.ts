// A real PgBouncer (Debian's `pgbouncer` package) in transaction-pooling mode in front of the
// test server, as a production deployment would run it. Tests that need it skip without the
// binary; CI installs it and sets REQUIRE_PGBOUNCER=1, which turns the skip into a failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../src/db/embedded.js'

export const pgbouncerRequired = process.env.REQUIRE_PGBOUNCER === '1'

/** The binary, or null when this machine has none. */
export function pgbouncerBinary(): string | null {
  for (const candidate of [process.env.PGBOUNCER_PATH, '/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) {
    if (candidate && existsSync(candidate)) return candidate
  }
  const which = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' })
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : null
}

export interface PgBouncer {
  /** `target` with its host and port replaced by PgBouncer's */
  url: string
  /** the admin console (SHOW STATS, SHOW POOLS, …) */
  adminUrl: string
  stop(): Promise<void>
}

/**
 * Starts PgBouncer in front of the server of `target` (every database on it, as the user and
 * password of `target`), with `poolSize` server connections per database.
 */
export async function startPgBouncer(target: string, poolSize = 4): Promise<PgBouncer> {
  const binary = pgbouncerBinary()
  if (!binary) throw new Error('pgbouncer is not installed (apt-get install pgbouncer)')
  const t = new URL(target)
  const dir = await mkdtemp(join(tmpdir(), 'pgbouncer-'))
  await chmod(dir, 0o755)
  const port = await freePort()
  const server = [`host=${t.hostname}`, `port=${t.port || 5432}`, `user=${decodeURIComponent(t.username)}`]
  if (t.password) server.push(`password=${decodeURIComponent(t.password)}`)
  const ini = join(dir, 'pgbouncer.ini')
  await writeFile(
    ini,
    [
      '[databases]',
      `* = ${server.join(' ')}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      // Clients are trusted here; PgBouncer logs in to Postgres with the credentials above.
      'auth_type = any',
      'admin_users = pgbouncer_admin',
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 500',
      'server_reset_query =',
    ].join('\n'),
    { mode: 0o644 },
  )
  // PgBouncer refuses to run as root; as root it is told to switch to a user Postgres's own
  // package (or the embedded server) has created.
  const args = process.getuid?.() === 0 ? ['-u', 'postgres', ini] : [ini]
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let output = ''
  child.stderr!.on('data', (d) => (output += d))
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`pgbouncer exited with ${code}: ${output}`))))
  exited.catch(() => undefined)
  await Promise.race([untilAccepting(port), exited])
  const via = (user: string, database: string) => {
    const u = new URL(target)
    u.hostname = '127.0.0.1'
    u.port = String(port)
    u.username = user
    u.pathname = `/${database}`
    return u.toString()
  }
  return {
    url: via(decodeURIComponent(t.username), t.pathname.slice(1)),
    adminUrl: via('pgbouncer_admin', 'pgbouncer'),
    async stop() {
      child.kill('SIGINT')
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)))
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function untilAccepting(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => (s.destroy(), resolve(true)))
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`pgbouncer did not listen on ${port}`)
}
