// Starts the real standalone server in its own process, as production runs it (the compiled
// dist/server/main.js, one node process), and reads its counters from its Prometheus route:
// the same numbers an operator scrapes.
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../src/db/embedded.js'

export { freePort }

export interface Metrics {
  /** statements sent to the database since start */
  dbQueries: number
  /** CPU time since start, in microseconds, as process.cpuUsage() gives it */
  cpu: { user: number; system: number }
  rss: number
  denylistSize: number
  /** event-loop delay since the previous scrape (prom-client resets it on each) */
  eventLoopDelayMs: { p50: number; p99: number; max: number; mean: number }
}

export interface ServerProcess {
  base: string
  port: number
  child: ChildProcess
  metrics(): Promise<Metrics>
  /** what it printed so far (stdout and stderr), when started with `capture` */
  output(): string
  /** SIGTERM, then its exit code */
  stop(): Promise<number | null>
}

/**
 * The environment, node flags and script `npm start` runs the server with (package.json), so
 * that what is measured is what a user starts: e.g. `MALLOC_ARENA_MAX=2 node
 * dist/server/main.bundle.js`.
 */
export function startCommand(): { env: Record<string, string>; nodeFlags: string[]; script: string } {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }
  // What runs after the build-if-stale guard: the last command of the `&&` chain.
  const command = pkg.scripts.start.split(/\s&&\s/).at(-1)!
  const m = /^((?:[A-Z_]+=\S+\s+)*)(?:exec\s+)?node\s+((?:--\S+\s+)*)(dist\/server\/main(?:\.bundle)?\.js)$/.exec(command)
  if (!m) throw new Error(`package.json's start script does not end in "[VAR=value ...] [exec] node [--flag ...] dist/server/main[.bundle].js": ${pkg.scripts.start}`)
  const env = Object.fromEntries(m[1]!.trim().split(/\s+/).filter(Boolean).map((a) => a.split('=', 2) as [string, string]))
  return { env, nodeFlags: m[2]!.trim().split(/\s+/).filter(Boolean), script: fileURLToPath(new URL(`../../${m[3]!}`, import.meta.url)) }
}
const METRICS_TOKEN = randomBytes(16).toString('hex')

/** Secrets shared by every instance of one benchmark, as a real deployment would share them. */
export function benchSecrets(): Record<string, string> {
  return {
    JWT_PRIVATE_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    JWT_KEY_ID: 'bench-1',
    REFRESH_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    MFA_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  }
}

export interface StartOptions {
  /** keep stdout and stderr for output() instead of passing them through */
  capture?: boolean
  /**
   * Drop stdout (where the logs go: at the default level, two lines per request) and keep only
   * the last of stderr for output(), so a load test neither floods the terminal nor makes the
   * runner hold every line.
   */
  quiet?: boolean
  /**
   * Another program to run the same way (plain node, same environment, waited for on
   * /health/live, read on /metrics with the same token): the benchmarks' ceilings and host app.
   */
  script?: string
}

/**
 * `env` is laid over this process's environment and production defaults; a variable given as
 * undefined is removed (the child sees it unset). Metrics are on, behind a token only this
 * process knows.
 */
/**
 * Production needs a mail server and an https issuer to start. These processes measure and test tokens and never
 * mail (registration keeps its 201, which sends nothing), so they name one that is never reached.
 */
export const NO_MAIL_ENV = { SMTP_URL: 'smtp://127.0.0.1:9', MAIL_FROM: 'bench@localhost', EMAIL_VERIFICATION: 'false', ISSUER: 'https://auth.bench.invalid/auth' }

export async function startServer(env: Record<string, string | undefined>, opts: StartOptions = {}): Promise<ServerProcess> {
  const start = startCommand()
  const script = opts.script ?? start.script
  if (!existsSync(script)) throw new Error(`${script} is missing${script === start.script ? ': run npm run build' : ''}`)
  if (env.PORT !== undefined) return startOn(Number(env.PORT), start, script, env, opts)
  // A free port can be taken by another process between freePort() and the child's listen:
  // then try another one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await freePort(), start, script, env, opts)
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String((err as Error).message))) throw err
    }
  }
}

/**
 * The environment every measured process gets: this process's, production defaults, metrics
 * behind the token, `env`, and the port. child_process leaves out variables whose value is
 * undefined.
 */
export function serverEnv(env: Record<string, string | undefined>, port: number): Record<string, string | undefined> {
  return {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    METRICS: 'true',
    METRICS_TOKEN,
    ...NO_MAIL_ENV,
    ...env,
    PORT: String(port),
  }
}

async function startOn(port: number, start: ReturnType<typeof startCommand>, script: string, env: Record<string, string | undefined>, opts: StartOptions): Promise<ServerProcess> {
  // BENCH_CPU_PROFILE_DIR: each process writes a V8 CPU profile there when it exits (Node 20
  // refuses --cpu-prof in NODE_OPTIONS).
  const profile = process.env.BENCH_CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR}`] : []
  const child = spawn(process.execPath, [...start.nodeFlags, ...profile, script], {
    env: { ...serverEnv(env, port), ...start.env },
    // stderr is always read, so that a process that dies at start says why in the error.
    stdio: opts.quiet ? ['ignore', 'ignore', 'pipe'] : opts.capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'pipe'],
  })
  let output = ''
  const passThrough = !opts.quiet && !opts.capture
  child.stdout?.on('data', (d) => (output += d))
  child.stderr?.on('data', (d) => {
    if (passThrough) process.stderr.write(d)
    output += d
    if ((opts.quiet || passThrough) && output.length > 65_536) output = output.slice(-32_768)
  })
  const base = `http://127.0.0.1:${port}`
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`server exited with ${code} before listening${output ? `: ${output}` : ''}`)
  })
  exited.catch(() => undefined)
  await Promise.race([untilListening(base), exited])
  return {
    base,
    port,
    child,
    output: () => output,
    metrics: () => scrape(base),
    async stop() {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const [code] = (await once(child, 'exit')) as [number | null]
      return code
    },
  }
}

async function untilListening(base: string): Promise<void> {
  await firstAnswer(`${base}/health/live`, { ok: true, pollMs: 25 })
}

/** performance.now() of the first answer to a GET of `url` (any status; a 2xx when `ok`), polled every `pollMs`. */
export async function firstAnswer(url: string, { ok, pollMs }: { ok: boolean; pollMs: number }): Promise<number> {
  for (;;) {
    try {
      const res = await fetch(url)
      await res.arrayBuffer()
      if (!ok || res.ok) return performance.now()
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

/** The server's /metrics, in the shape the benchmarks and tests read. */
export async function scrape(base: string): Promise<Metrics> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`)
  const values = parsePrometheus(await res.text())
  const v = (name: string) => values.get(name) ?? 0
  return {
    dbQueries: v('auth_db_statements_total'),
    cpu: { user: v('process_cpu_user_seconds_total') * 1e6, system: v('process_cpu_system_seconds_total') * 1e6 },
    rss: v('process_resident_memory_bytes'),
    denylistSize: v('auth_denylist_size'),
    eventLoopDelayMs: {
      p50: v('nodejs_eventloop_lag_p50_seconds') * 1000,
      p99: v('nodejs_eventloop_lag_p99_seconds') * 1000,
      max: v('nodejs_eventloop_lag_max_seconds') * 1000,
      mean: v('nodejs_eventloop_lag_mean_seconds') * 1000,
    },
  }
}

/** name -> value, summed over labels; comments skipped. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const value = Number(m[3])
    if (Number.isFinite(value)) out.set(m[1]!, (out.get(m[1]!) ?? 0) + value)
  }
  return out
}
