// What every ceiling process shares with the real server besides its Fastify options
// (fastifyOptions from src/app.ts): the IPC protocol of src/server.ts (src/ipc-metrics.ts).
import { answerMetricsOverIpc } from '../../src/ipc-metrics.js'

export function serveIpc(ready: Record<string, unknown>, extra: () => Record<string, unknown> = () => ({})): void {
  if (!process.send) return
  answerMetricsOverIpc(extra)
  process.once('SIGTERM', () => process.exit(0))
  process.send(ready)
}
