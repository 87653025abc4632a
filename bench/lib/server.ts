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
  stop(): Promise<void>
}

/** Secrets shared by every instance of one benchmark, as a real deployment would share them. */
export function benchSecrets(): Record<string, string> {
  return {
    JWT_PRIVATE_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    JWT_KEY_ID: 'bench-1',
    REFRESH_TOKEN_SECRET: randomBytes(32).toString('base64url'),
  }
}

export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const child = fork('src/server.ts', [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const [msg] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`server exited with ${code} before listening`)
    }),
  ])) as [{ listening: number }]
  const port = msg.listening
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    child,
    async metrics() {
      child.send('metrics')
      const [m] = (await once(child, 'message')) as [Metrics]
      return m
    },
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}
