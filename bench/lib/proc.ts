// Every process the benchmark measures (the real server, the host app, each ceiling) is started
// the same way: plain node, NODE_ENV=production, the default log level with stdout dropped,
// its own port, ready once GET /health/live answers. Its counters come from its GET /metrics
// (prom-client's default metrics, plus auth_db_statements_total where there is a database):
// the route an operator scrapes, read before and after each run. Nothing is asked over IPC.
import { readdir, readFile } from 'node:fs/promises'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { NO_MAIL_ENV, startServer, type Metrics } from './server.js'

export type { Metrics } from './server.js'

export interface Proc {
  name: string
  pid: number
  port: number
  base: string
  /** one scrape of GET /metrics (it also resets the event-loop delay histogram) */
  metrics(): Promise<Metrics>
  /** resident set size now, from /proc (null elsewhere): no request, so no reset of anything */
  rssNow(): Promise<number | null>
  /** CPU so far of its main (event-loop) thread and of all its other threads, from /proc (null elsewhere) */
  threadCpuMs(): Promise<ThreadCpu | null>
  /** the end of its stderr */
  output(): string
  stop(): Promise<void>
}

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

/** What each kind of process runs: the compiled server, or a plain-JS program of the bench's. */
export const SCRIPTS = {
  server: here('../../dist/server/main.js'),
  hostApp: here('../host-app.js'),
  ceilingA: here('../ceilings/bare-fastify.js'),
  ceilingA2: here('../ceilings/ed25519-verify.js'),
  ceilingB: here('../ceilings/pg-update.js'),
  ceilingC: here('../ceilings/argon2.js'),
} as const

/**
 * Production as the server runs it: LOG_LEVEL is left unset so every process logs at the
 * default level (info: a line per request received and one per answer), into /dev/null.
 */
export const PROD_ENV: Record<string, string | undefined> = { NODE_ENV: 'production', HOST: '127.0.0.1', LOG_LEVEL: undefined, ...NO_MAIL_ENV }

// Whatever happens to the runner, no benchmark process outlives it.
const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL')
})

export async function startProc(name: string, script: string, env: Record<string, string | undefined>): Promise<Proc> {
  const p = await startServer({ ...PROD_ENV, ...env }, { script, quiet: true })
  const child = p.child
  live.add(child)
  child.once('exit', () => live.delete(child))
  const pid = child.pid!
  return {
    name,
    pid,
    port: p.port,
    base: p.base,
    metrics: () => p.metrics(),
    rssNow: () => rssOf(pid),
    threadCpuMs: () => threadCpuOf(pid),
    output: () => p.output(),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      // The server drains for up to 10 s on SIGTERM; a benchmark process that hangs longer is killed.
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await p.stop()
      clearTimeout(timer)
    },
  }
}

/** VmRSS, which is also what prom-client's process_resident_memory_bytes reads on Linux. */
async function rssOf(pid: number): Promise<number | null> {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}

export interface ThreadCpu {
  /** the event loop's thread (its id is the process id) */
  main: number
  /** every other thread: libuv's pool (argon2, crypto), V8's GC and compiler helpers */
  others: number
}

// utime + stime (fields 14 and 15 of /proc/<pid>/task/<tid>/stat, after the parenthesised
// name), in clock ticks of 10 ms: coarse, but a run is seconds long. Node 20 names every
// thread "node", so the main thread is told apart only by its id.
const TICK_MS = 10

async function threadCpuOf(pid: number): Promise<ThreadCpu | null> {
  try {
    const tids = await readdir(`/proc/${pid}/task`)
    const cpu: ThreadCpu = { main: 0, others: 0 }
    await Promise.all(
      tids.map(async (tid) => {
        const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => null)
        if (stat === null) return // the thread ended meanwhile
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS
        if (Number(tid) === pid) cpu.main += ms
        else cpu.others += ms
      }),
    )
    return cpu
  } catch {
    return null
  }
}
