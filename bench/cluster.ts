// N copies of the compiled server (dist/server/main.js, unchanged, plain node) as node:cluster
// workers sharing one port. The primary only accepts connections and hands each one to the
// next worker (round-robin, the default on Linux); after that a connection's requests go
// straight to its worker, so there is no proxy copying bytes. Every worker is a complete
// instance: its own pg pool, denylist listener and catch-up, exactly like N machines.
//
//   INSTANCES=2 PORT=3000 NODE_ENV=production JWT_PRIVATE_KEY=… REFRESH_TOKEN_SECRET=… \
//     DATABASE_URL=… npx tsx bench/cluster.ts
//
// Without DATABASE_URL the primary opens the embedded PostgreSQL once (as `npm start` would)
// and hands its URL to the workers, so they do not race to start it.
//
// `npm run bench` does not measure this mode. Workers share the port, so GET /metrics answers
// from whichever worker the connection lands on, and the server has no per-worker address to
// scrape (prom-client's AggregatorRegistry would need each worker to register its registry,
// which only src/ can do). The bench's multi-process runs are N processes on N ports with the
// load generator splitting its connections, each process scraped on its own /metrics: what a
// load balancer in front of N instances does. This file is for trying cluster mode by hand.
import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { loadConfig, openDatabase } from '../dist/server/index.js'

const instances = Number(process.env.INSTANCES ?? availableParallelism())
if (!Number.isInteger(instances) || instances < 1) throw new Error('INSTANCES must be a positive integer')

const config = loadConfig()
const db = await openDatabase(config)

cluster.setupPrimary({
  exec: fileURLToPath(new URL('../dist/server/main.js', import.meta.url)),
  // Not this process's flags: under tsx they load its TypeScript loader, which the compiled
  // server does not need and production does not run.
  execArgv: [],
})

let stopping = false
const workers: Worker[] = []
const listening = new Map<number, number>()
const allListening = new Promise<number>((resolve) => {
  cluster.on('listening', (w, address) => {
    listening.set(w.id, address.port)
    if (listening.size === instances) resolve(address.port)
  })
})
cluster.on('exit', (w, code, signal) => {
  if (stopping) return
  console.error(`instance ${w.id} exited (${code ?? signal}); stopping`)
  void shutdown(1)
})
for (let i = 0; i < instances; i++) workers.push(cluster.fork({ DATABASE_URL: db.url, INSTANCE: String(i) }))

async function shutdown(code: number) {
  if (stopping) return
  stopping = true
  // Each worker drains its own requests on SIGTERM (dist/server/main.js) and exits.
  await Promise.all(
    workers.map(async (w) => {
      if (w.isDead()) return
      const exited = once(w, 'exit')
      w.process.kill('SIGTERM')
      await exited
    }),
  )
  await db.stop()
  process.exit(code)
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => void shutdown(0))

const port = await allListening
console.log(
  `${instances} instances of dist/server/main.js on http://${config.host}:${port} (node:cluster, round-robin); ` +
    `worker pids ${workers.map((w) => w.process.pid).join(', ')}`,
)
