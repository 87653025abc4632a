// `npm start` as an operator's process manager runs it: SIGTERM goes to npm's process, and
// must reach the server and stop it. npm forwards the signal to the shell it started; the
// start script execs node, so that shell is the server and nothing is left running.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { freePort } from '../../src/db/embedded.js'
import { createTestDatabase } from '../helpers/database.js'

let db: Awaited<ReturnType<typeof createTestDatabase>>
let dataDir: string
let serverPid: number | undefined
beforeAll(async () => {
  db = await createTestDatabase()
  dataDir = await mkdtemp(join(tmpdir(), 'auth-npm-start-'))
})
afterAll(async () => {
  // A server the signal failed to reach must not outlive the test.
  if (serverPid !== undefined && alive(serverPid)) process.kill(serverPid, 'SIGKILL')
  await db?.drop()
  await rm(dataDir, { recursive: true, force: true })
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

it('SIGTERM to npm start stops the server itself, which exits cleanly', async () => {
  const port = await freePort()
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, DATABASE_URL: db.url, DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port), NODE_ENV: 'development', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  npm.stdout.on('data', (d) => (output += d))
  npm.stderr.on('data', (d) => (output += d))
  // The server's own pid, from its log line once it listens.
  const pid = await vi.waitFor(
    () => {
      const m = /"pid":(\d+)[^\n]*Server listening/.exec(output)
      if (!m) throw new Error(`not listening yet: ${output.slice(-500)}`)
      return Number(m[1])
    },
    { timeout: 30_000, interval: 100 },
  )
  serverPid = pid
  expect(pid).not.toBe(npm.pid)
  expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200)

  npm.kill('SIGTERM')
  const [code] = await once(npm, 'exit')
  await vi.waitFor(() => expect(alive(pid)).toBe(false), { timeout: 5000 })
  expect(code).toBe(0)
  expect(output).toMatch(/shutting down: finishing in-flight requests/)
}, 60_000)
