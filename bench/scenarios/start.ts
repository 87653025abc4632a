// `npm start` as a user runs it, on a database that is already migrated: the time from spawning
// npm to the first answer of GET /health/live (the process listens) and to the first 200 of GET
// /health/ready (the database reachable and every migration applied: what a load balancer
// waits for before sending traffic). Polled every 5 ms, so each figure is at most 5 ms late. npm itself
// (a node process of its own, about 0.2 s of the total) is part of what a user waits for.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { firstAnswer, freePort, serverEnv } from '../lib/server.js'
import { PROD_ENV } from '../lib/proc.js'
import type { Ctx } from './context.js'

export interface StartFigures {
  /** ms from spawning `npm start` to the first answer of /health/live, per start */
  liveMs: number[]
  /** ms to the first 200 of /health/ready */
  readyMs: number[]
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const POLL_MS = 5

export async function startTimes(ctx: Ctx, starts: number): Promise<StartFigures> {
  const figures: StartFigures = { liveMs: [], readyMs: [] }
  for (let i = 0; i < starts; i++) {
    const port = await freePort()
    const t0 = performance.now()
    const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: serverEnv({ ...PROD_ENV, ...ctx.env }, port), stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4096)))
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`npm start exited with ${code} before answering: ${stderr}`)
    })
    exited.catch(() => undefined)
    try {
      const live = await Promise.race([firstAnswer(`http://127.0.0.1:${port}/health/live`, { ok: false, pollMs: POLL_MS }), exited])
      const ready = await Promise.race([firstAnswer(`http://127.0.0.1:${port}/health/ready`, { ok: true, pollMs: POLL_MS }), exited])
      figures.liveMs.push(live - t0)
      figures.readyMs.push(ready - t0)
      ctx.log(`  start ${i + 1}: live after ${(live - t0).toFixed(0)} ms, ready after ${(ready - t0).toFixed(0)} ms`)
    } finally {
      // npm start execs node, so the signal reaches the server itself.
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await once(child, 'exit')
      }
    }
  }
  return figures
}
