// Multi-instance mode: N copies of the real server (src/server.ts, unchanged) as node:cluster
// workers sharing one port. The primary only accepts connections and hands each one to the
// next worker (round-robin, the default on Linux); after that a connection's requests go
// straight to its worker, so there is no proxy copying bytes. Every worker is a complete
// instance: its own pg pool, denylist listener and catch-up, exactly like N machines.
//
//   INSTANCES=2 PORT=3000 NODE_ENV=production JWT_PRIVATE_KEY=… REFRESH_TOKEN_SECRET=… \
//     DATABASE_URL=… npx tsx bench/cluster.ts
//
// Without DATABASE_URL the primary starts the embedded PostgreSQL once and hands its URL to
// the workers (so they do not race to start it). Under the benchmark (IPC), it answers
// 'metrics' with every worker's counters plus its own CPU, and forwards 'reset'.
import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../src/server/config.js'
import { startEmbeddedPostgres } from '../src/db/embedded.js'

const instances = Number(process.env.INSTANCES ?? availableParallelism())
if (!Number.isInteger(instances) || instances < 1) throw new Error('INSTANCES must be a positive integer')

const config = loadConfig()
let stopDatabase = async () => {}
let databaseUrl = config.databaseUrl
if (databaseUrl === null) {
  const db = await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'postgres'), port: config.embeddedPgPort })
  databaseUrl = db.url
  stopDatabase = db.stop
}

cluster.setupPrimary({
  exec: fileURLToPath(new URL('../src/server.ts', import.meta.url)),
  execArgv: ['--import', 'tsx'],
  // The benchmark's IPC channel is the primary's; workers report to the primary.
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
})

const workers: Worker[] = []
let port = 0
let stopping = false
for (let i = 0; i < instances; i++) {
  const w = cluster.fork({ DATABASE_URL: databaseUrl, INSTANCE: String(i) })
  workers.push(w)
}
cluster.on('exit', (w, code, signal) => {
  if (stopping) return
  console.error(`instance ${w.id} exited (${code ?? signal}); stopping`)
  void shutdown(1)
})
// Each worker announces { listening: port } once it serves; listen(0) in a cluster gives
// every worker the same port.
await Promise.all(
  workers.map(
    (w) =>
      new Promise<void>((resolve) => {
        const onMessage = (m: { listening?: number }) => {
          if (typeof m?.listening !== 'number') return
          port = m.listening
          w.off('message', onMessage)
          resolve()
        }
        w.on('message', onMessage)
      }),
  ),
)

function ask(w: Worker): Promise<unknown> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (typeof m !== 'object' || m === null || !('cpu' in m)) return
      w.off('message', onMessage)
      resolve(m)
    }
    w.on('message', onMessage)
    w.send('metrics')
  })
}

async function shutdown(code: number) {
  if (stopping) return
  stopping = true
  await Promise.all(
    workers.map(async (w) => {
      if (w.isDead()) return
      const exited = once(w, 'exit')
      w.process.kill('SIGTERM')
      await exited
    }),
  )
  await stopDatabase()
  process.exit(code)
}
process.once('SIGTERM', () => void shutdown(0))
process.once('SIGINT', () => void shutdown(0))

if (process.send) {
  let chain: Promise<unknown> = Promise.resolve()
  process.on('message', (msg) => {
    if (msg === 'reset') for (const w of workers) w.send('reset')
    if (msg === 'metrics') {
      // Workers' answers are matched by order, so one round at a time.
      chain = chain.then(async () => {
        const each = await Promise.all(workers.map(ask))
        process.send?.({ instances: each, primary: { cpu: process.cpuUsage(), rss: process.memoryUsage().rss } })
      })
    }
  })
  process.send({ listening: port, instances })
} else {
  console.log(`${instances} instances of src/server.ts on http://${config.host}:${port} (node:cluster, round-robin)`)
}
