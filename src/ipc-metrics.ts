// Counters for a parent process (the benchmarks), over the IPC channel only: nothing is
// exposed over HTTP. 'metrics' is answered with CPU time, RSS, event-loop delay and whatever
// `extra` adds; 'reset' clears the event-loop delay histogram.
import { monitorEventLoopDelay } from 'node:perf_hooks'

export function answerMetricsOverIpc(extra: () => Record<string, unknown> = () => ({})): void {
  if (!process.send) return
  // The histogram records whole sampling intervals; the delay is what exceeds one.
  const resolutionMs = 10
  const loopDelay = monitorEventLoopDelay({ resolution: resolutionMs })
  const beyond = (ns: number) => Math.max(0, ns / 1e6 - resolutionMs)
  loopDelay.enable()
  process.on('message', (msg) => {
    if (msg === 'reset') loopDelay.reset()
    if (msg === 'metrics') {
      process.send?.({
        cpu: process.cpuUsage(),
        rss: process.memoryUsage().rss,
        eventLoopDelayMs: {
          p50: beyond(loopDelay.percentile(50)),
          p99: beyond(loopDelay.percentile(99)),
          max: beyond(loopDelay.max),
          mean: beyond(loopDelay.mean),
        },
        ...extra(),
      })
    }
  })
}
