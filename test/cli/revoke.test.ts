// `npm run revoke`, run as an operator would, in its own process, against two running
// instances: the sessions it ends are refused on both within a second, and nothing else is.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testEnv } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { sidOf } from '../helpers/flows.js'
import { get, me, post, signup, startCluster, timeUntil, type Cluster } from '../helpers/instances.js'

const run = promisify(execFile)

let cluster: Cluster
beforeAll(async () => {
  // Catch-up far beyond the test: only the notification can deliver in time.
  cluster = await startCluster(2, { DENYLIST_SYNC_INTERVAL_MS: '60000' })
})
afterAll(() => cluster.close())

async function revoke(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/cli/revoke.js', ...args], {
      env: { ...process.env, ...testEnv(), DATABASE_URL: cluster.databaseUrl },
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const reasonOf = async (sid: string) =>
  (await adminQuery<{ revoked_reason: string | null }>('SELECT revoked_reason FROM auth.token_families WHERE id = $1', [sid], cluster.databaseUrl))[0]!.revoked_reason

describe('npm run revoke', () => {
  it('--session ends that session on every instance within a second; the account\'s other session goes on', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const phone = await signup(a)
    const laptop = await post(a, '/auth/login', { email: phone.email, password: phone.password })
    const laptopAccess = laptop.json.access_token as string

    const out = await revoke('--session', phone.sid)
    expect(out.code, out.stderr).toBe(0)
    expect(JSON.parse(out.stdout)).toEqual({ revoked: [phone.sid] })
    for (const base of [a, b]) await timeUntil(async () => (await me(base, phone.accessToken)).json?.error === 'session_revoked', 1000)
    expect((await post(b, '/auth/refresh', { refresh_token: phone.refreshToken })).json.error).toBe('session_revoked')
    expect(await reasonOf(phone.sid)).toBe('admin')

    // The other session: untouched, and its owner can read why the first one ended.
    expect((await me(b, laptopAccess)).status).toBe(200)
    expect((await post(b, '/auth/refresh', { refresh_token: laptop.json.refresh_token })).status).toBe(200)
    const events = await get(b, '/auth/sessions/events', { authorization: `Bearer ${laptopAccess}` })
    expect(events.json.events).toContainEqual(expect.objectContaining({ type: 'family_revoked', session_id: phone.sid, reason: 'admin' }))

    // Again: nothing left to revoke, and that is not an error.
    const again = await revoke('--session', phone.sid)
    expect([again.code, JSON.parse(again.stdout)]).toEqual([0, { revoked: [] }])
  }, 30_000)

  it('--user ends every session of the account, whatever the spelling of the address', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const s = await signup(a)
    const other = await post(b, '/auth/login', { email: s.email, password: s.password })
    const bystander = await signup(a)

    const out = await revoke('--user', ` ${s.email.toUpperCase()} `)
    expect(out.code, out.stderr).toBe(0)
    expect((JSON.parse(out.stdout) as { revoked: string[] }).revoked.sort()).toEqual([s.sid, sidOf(other.json.access_token)].sort())
    for (const token of [s.accessToken, other.json.access_token as string]) {
      await timeUntil(async () => (await me(a, token)).status === 401 && (await me(b, token)).status === 401, 1000)
    }
    expect((await me(b, bystander.accessToken)).status).toBe(200)
  }, 30_000)

  it('refuses bad arguments and unknown accounts with exit code 2, revoking nothing', async () => {
    const s = await signup(cluster.instances[0]!.base)
    const cases = [[], ['--session', s.sid, '--user', s.email], ['--session', 'not-a-uuid'], ['--user', 'nobody'], ['--user', 'nobody@example.com'], ['--sesion', s.sid]]
    const outs = await Promise.all(cases.map((args) => revoke(...args)))
    outs.forEach((out, i) => {
      expect(out.code, `${cases[i]!.join(' ')}: ${out.stderr}`).toBe(2)
      expect(out.stdout).toBe('')
    })
    expect(await reasonOf(s.sid)).toBeNull()
  }, 60_000)
})
