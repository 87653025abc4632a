import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { loginBearer, COOKIE } from '../helpers/flows.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(() => t.close())

it('smoke', async () => {
  const s = await loginBearer(t.app)
  const me = await t.app.inject({ url: '/me', headers: { authorization: `Bearer ${s.accessToken}` } })
  expect(me.statusCode).toBe(200)
  const empty = await t.app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${s.accessToken}` } })
  expect(empty.statusCode).toBe(204)
  const r = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: COOKIE })
  expect(r.json()).toEqual({})
})
