// Starts the real server (src/server.ts) in its own process, as production would run it, and
// reads its counters over IPC (database statements, CPU time, RSS).
import { fork, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'

export interface Metrics {
  dbQueries: number
  cpu: { user: number; system: number }
  rss: number
  denylistSize: number
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

/** Secrets shared by every instance of one benchmark, as a real deployment would share them. */
export function benchSecrets(): Record<string, string> {
  return {
    JWT_PRIVATE_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    JWT_KEY_ID: 'bench-1',
    REFRESH_TOKEN_SECRET: randomBytes(32).toString('base64url'),
  }
}

/**
 * `env` is laid over this process's environment and production defaults; a variable given as
 * undefined is removed (the child sees it unset). `capture` keeps the output for output()
 * instead of passing it through.
 */
export async function startServer(env: Record<string, string | undefined>, opts: { capture?: boolean } = {}): Promise<ServerProcess> {
  const child = fork('src/server.ts', [], {
    execArgv: ['--import', 'tsx'],
    // child_process leaves out variables whose value is undefined.
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: opts.capture ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let output = ''
  child.stdout?.on('data', (d) => (output += d))
  child.stderr?.on('data', (d) => (output += d))
  const [msg] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`server exited with ${code} before listening${output ? `: ${output}` : ''}`)
    }),
  ])) as [{ listening: number }]
  const port = msg.listening
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => output,
    async metrics() {
      child.send('metrics')
      const [m] = (await once(child, 'message')) as [Metrics]
      return m
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const [code] = (await once(child, 'exit')) as [number | null]
      return code
    },
  }
}
