// What every ceiling process shares with the real server: Fastify built with the options of
// src/app.ts (buildApp keeps them inline, so they are restated here: keep the two in step;
// its clientErrorHandler, which only answers malformed requests, is not needed here),
// and the same IPC protocol as src/server.ts ('metrics' answered, 'reset' clears the
// event-loop delay histogram).
import type { FastifyServerOptions } from 'fastify'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { loggerOptions } from '../../src/app.js'
import type { Config } from '../../src/config.js'

export function appFastifyOptions(config: Config): FastifyServerOptions {
  return {
    logger: loggerOptions(config),
    trustProxy: config.trustProxy,
    bodyLimit: 64 * 1024,
    requestIdHeader: false,
    ajv: { customOptions: { coerceTypes: false } },
    return503OnClosing: false,
  }
}

export function serveIpc(ready: Record<string, unknown>, extra: () => Record<string, unknown> = () => ({})): void {
  if (!process.send) return
  // As in src/server.ts: the histogram records whole 10 ms sampling intervals.
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
  process.once('SIGTERM', () => process.exit(0))
  process.send(ready)
}
