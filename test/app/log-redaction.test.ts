import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { COOKIE, cookieHeader, cookiesOf, uniqueEmail } from '../helpers/flows.js'

const lines: string[] = []
let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ env: { LOG_LEVEL: 'trace', LOG_REQUESTS: 'true' }, logStream: { write: (l: string) => void lines.push(l) } })
})
afterAll(() => t.close())

it('never writes a password, token, cookie or hash to the log, on any route and transport', async () => {
  const email = uniqueEmail()
  const password = 'very-secret-password-42'
  await t.app.inject({ method: 'POST', url: '/auth/register', payload: { email, password } })
  const bearer = (await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })).json()
  const rotated = (await t.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: bearer.refresh_token } })).json()
  await t.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    payload: `grant_type=refresh_token&refresh_token=${rotated.refresh_token}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  })
  await t.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${rotated.access_token}` } })
  const web = cookiesOf(await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, headers: COOKIE }))
  const jar = cookieHeader({ access_token: web.access_token!.value, refresh_token: web.refresh_token!.value })
  await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...COOKIE, cookie: jar } })
  await t.app.inject({ url: '/auth/me', headers: { cookie: jar } })
  await t.app.inject({ method: 'POST', url: '/auth/logout', headers: { ...COOKIE, cookie: jar } })
  // A failing login logs too.
  await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: `${password}-wrong` } })

  const [row] = await adminQuery<{ password_hash: string }>('SELECT password_hash FROM auth.users WHERE email = $1', [email], t.databaseUrl)
  const log = lines.join('')
  expect(lines.length).toBeGreaterThan(10)
  for (const secret of [
    password,
    row!.password_hash,
    bearer.access_token,
    bearer.refresh_token,
    rotated.access_token,
    rotated.refresh_token,
    web.access_token!.value,
    web.refresh_token!.value,
  ]) {
    expect(log).not.toContain(secret)
  }
})

it('redacts credentials even when code logs them by mistake', () => {
  const before = lines.length
  t.app.log.info(
    {
      req: { headers: { authorization: 'Bearer leaked-access', cookie: 'refresh_token=leaked-cookie' } },
      body: { password: 'leaked-password', refresh_token: 'leaked-refresh', access_token: 'leaked-access2' },
      user: { passwordHash: '$argon2id$leaked' },
    },
    'oops',
  )
  const written = lines.slice(before).join('')
  expect(written).toContain('oops')
  expect(written).toContain('[redacted]')
  expect(written).not.toMatch(/leaked/)
})

it('LOG_REQUESTS: a line per request and per answer when on; none when off, while errors are still logged', async () => {
  const requestLines = (ls: string[]) => ls.filter((l) => /"msg":"(incoming request|request completed)"/.test(l))
  expect(requestLines(lines).length).toBeGreaterThan(0)

  const quiet: string[] = []
  const off = await buildTestApp({ env: { LOG_LEVEL: 'trace', LOG_REQUESTS: 'false' }, logStream: { write: (l: string) => void quiet.push(l) } })
  try {
    await off.app.inject({ url: '/auth/.well-known/jwks.json' })
    await off.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'nobody@example.com', password: 'wrong password here' } })
    off.app.log.error('an error still reaches the log')
    expect(requestLines(quiet)).toEqual([])
    expect(quiet.join('')).toContain('an error still reaches the log')
  } finally {
    await off.close()
  }
})
