// Any benchmark process (the real server, a ceiling, the cluster primary) is forked the same
// way: tsx, NODE_ENV=production, logs at warn, its own process. It reports
// `{ listening: port }` over IPC when ready and answers 'metrics' (and takes 'reset', which
// clears its event-loop delay histogram) over IPC; nothing is exposed over HTTP.
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'

export interface LoopDelay {
  p50: number
  p99: number
  max: number
  mean: number
}

export interface ProcMetrics {
  cpu: { user: number; system: number }
  rss: number
  dbQueries?: number
  denylistSize?: number
  eventLoopDelayMs?: LoopDelay
}

export interface Proc<M = ProcMetrics> {
  name: string
  port: number
  base: string
  child: ChildProcess
  /** resets the event-loop delay histogram; resolves once the process has seen the reset */
  reset(): Promise<void>
  metrics(): Promise<M>
  /** a request/answer exchange over IPC (the argon2 ceiling) */
  ask<T>(msg: unknown): Promise<T>
  stop(): Promise<void>
}

export const PROD_ENV = { NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: '0' }

// Whatever happens to the runner, no benchmark process outlives it.
const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL')
})

export async function forkProcess<M = ProcMetrics>(
  name: string,
  script: string,
  env: Record<string, string>,
  opts: { waitForListening?: boolean } = {},
): Promise<Proc<M>> {
  const child = fork(script, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...PROD_ENV, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  live.add(child)
  child.once('exit', () => live.delete(child))
  let port = 0
  const ready = (opts.waitForListening ?? true) ? 'listening' : 'ready'
  const [msg] = (await Promise.race([
    waitFor(child, (m) => typeof m === 'object' && m !== null && ready in m),
    once(child, 'exit').then(([code]) => {
      throw new Error(`${name} (${script}) exited with ${code} before it was ready`)
    }),
  ])) as [Record<string, unknown>]
  if (typeof msg.listening === 'number') port = msg.listening

  // One exchange at a time: answers carry no id, so they are matched by order.
  let queue: Promise<unknown> = Promise.resolve()
  const exchange = <T>(send: unknown[], isAnswer: (m: unknown) => boolean): Promise<T> => {
    const p = queue.then(async () => {
      const answer = waitFor(child, isAnswer)
      for (const m of send) child.send(m as string)
      return (await answer)[0] as T
    })
    queue = p.catch(() => undefined)
    return p
  }
  const isMetrics = (m: unknown) => typeof m === 'object' && m !== null && ('cpu' in m || 'instances' in m)

  return {
    name,
    port,
    base: `http://127.0.0.1:${port}`,
    child,
    // 'reset' has no answer of its own; the metrics answer after it proves it was handled
    // (IPC messages arrive in order).
    reset: () => exchange<M>(['reset', 'metrics'], isMetrics).then(() => undefined),
    metrics: () => exchange<M>(['metrics'], isMetrics),
    ask: <T>(m: unknown) => exchange<T>([m], (a) => typeof a === 'object' && a !== null && 'answer' in a),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    },
  }
}

function waitFor(child: ChildProcess, match: (m: unknown) => boolean): Promise<[unknown]> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!match(m)) return
      cleanup()
      resolve([m])
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`process exited (${code}) while waiting for an IPC answer`))
    }
    const cleanup = () => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}
