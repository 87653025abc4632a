// Ceiling C: raw argon2id hashes per second with the server's parameters (loadConfig, so the
// production defaults m=19456 KiB, t=2, p=1 unless the environment says otherwise), through
// the server's own PasswordHasher: the libuv thread pool, same UV_THREADPOOL_SIZE (inherited
// from the environment), in its own process, `concurrency` hashes in flight like
// `concurrency` login connections.
import { loadConfig } from '../../src/server/config.js'
import { PasswordHasher } from '../../src/auth/password.js'

const config = loadConfig()
const hasher = new PasswordHasher(config.argon2)

interface Run {
  run: { durationMs: number; concurrency: number }
}

process.on('message', async (msg: Run | string) => {
  if (typeof msg !== 'object' || !msg.run) return
  const { durationMs, concurrency } = msg.run
  const latencies: number[] = []
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const until = t0 + durationMs
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const s = performance.now()
        await hasher.hash('correct horse battery staple')
        latencies.push(performance.now() - s)
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  latencies.sort((a, b) => a - b)
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN
  process.send?.({
    answer: {
      hashes: latencies.length,
      seconds,
      hashesPerSec: latencies.length / seconds,
      latencyMs: { p50: pct(50), p99: pct(99) },
      cpuMs: (cpu.user + cpu.system) / 1000,
      params: config.argon2,
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    },
  })
})
process.once('SIGTERM', () => process.exit(0))
// The hasher computes its timing-equaliser hash at construction; let it finish first.
await hasher.verify(null, 'warm-up')
process.send?.({ ready: true })
