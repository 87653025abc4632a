// When the configured argon2 cost rises, a successful login re-hashes the stored password at
// the new cost; a failed one changes nothing.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { register } from '../../helpers/flows.js'

let cheap: TestApp
let costly: TestApp
beforeAll(async () => {
  cheap = await buildTestApp({ env: { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' } })
  // The same database, after an operator raised the cost.
  costly = await buildTestApp({ databaseUrl: cheap.databaseUrl, env: { ARGON2_MEMORY_KIB: '2048', ARGON2_TIME_COST: '2' } })
})
afterAll(async () => {
  await costly.close()
  await cheap.close()
})

const hashOf = async (email: string) =>
  (await adminQuery<{ password_hash: string }>('SELECT password_hash FROM auth.users WHERE email = $1', [email], cheap.databaseUrl))[0]!.password_hash
const login = (t: TestApp, email: string, password: string) =>
  t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })

it('a successful login at a higher cost re-hashes; the password keeps working', async () => {
  const user = await register(cheap.app)
  expect(await hashOf(user.email)).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/)
  expect((await login(costly, user.email, user.password)).statusCode).toBe(200)
  const upgraded = await hashOf(user.email)
  expect(upgraded).toMatch(/^\$argon2id\$v=19\$m=2048,t=2,p=1\$/)
  // Already current: the next login leaves it alone.
  expect((await login(costly, user.email, user.password)).statusCode).toBe(200)
  expect(await hashOf(user.email)).toBe(upgraded)
})

it('a failed login does not re-hash', async () => {
  const user = await register(cheap.app)
  const before = await hashOf(user.email)
  expect((await login(costly, user.email, 'not the password')).statusCode).toBe(401)
  expect(await hashOf(user.email)).toBe(before)
})
