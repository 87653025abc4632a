// Runs the cleanup job every `intervalSec` on an unref'd timer (it never keeps the process
// alive), first one interval after start. Stopping waits for a run in progress, which stops
// after its current batch, so the pool can be closed after it.
import { cleanupPlan, runCleanup, type CleanupResult, type CleanupStores } from './cleanup.js'
import type { AuthSettings } from '../options.js'

export interface CleanupTimer {
  /** one run now (what the timer does) */
  run(): Promise<CleanupResult>
  start(): void
  stop(): Promise<void>
}

export function cleanupTimer(
  stores: CleanupStores,
  settings: AuthSettings,
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void },
): CleanupTimer {
  const intervalMs = settings.cleanup.intervalSec * 1000
  const plan = cleanupPlan(settings)
  let stopping = false
  let running: Promise<CleanupResult> | null = null
  let timer: NodeJS.Timeout | null = null

  const run = (): Promise<CleanupResult> => {
    running ??= runCleanup(stores, plan, { shouldStop: () => stopping }).finally(() => {
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
  return {
    run,
    start: schedule,
    async stop() {
      stopping = true
      if (timer) clearTimeout(timer)
      await running?.catch(() => undefined)
    },
  }
}
