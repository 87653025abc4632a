// Runs the cleanup job every CLEANUP_INTERVAL_SEC on an unref'd timer (it never keeps the
// process alive), first one interval after start. Closing the app stops the timer and waits
// for a run in progress, which stops after its current batch, before the pool is closed.
import fp from 'fastify-plugin'
import { cleanupPlan, runCleanup, type CleanupResult } from '../jobs/cleanup.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** runs the cleanup once now (what the timer does) */
    runCleanup(): Promise<CleanupResult>
  }
}

export default fp(
  async (fastify) => {
    const intervalMs = fastify.config.cleanup.intervalSec * 1000
    const plan = cleanupPlan(fastify.config)
    const log = fastify.log.child({ component: 'cleanup' })
    let stopping = false
    let running: Promise<CleanupResult> | null = null
    let timer: NodeJS.Timeout | null = null

    const run = (): Promise<CleanupResult> => {
      running ??= runCleanup(fastify.stores, plan, { shouldStop: () => stopping }).finally(() => {
        running = null
      })
      return running
    }
    const schedule = () => {
      if (stopping || intervalMs === 0) return
      timer = setTimeout(() => {
        run()
          .then((result) => log.info({ result }, 'cleanup done'))
          .catch((err) => log.warn({ err }, 'cleanup failed; next run in one interval'))
          .finally(schedule)
      }, intervalMs)
      timer.unref()
    }

    fastify.decorate('runCleanup', run)
    fastify.addHook('onReady', async () => schedule())
    fastify.addHook('onClose', async () => {
      stopping = true
      if (timer) clearTimeout(timer)
      await running?.catch(() => undefined)
    })
  },
  { name: 'cleanup', dependencies: ['services'] },
)
