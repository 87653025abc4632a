// @ts-check
// Ceiling C: raw argon2id, the server's parameters (loadConfig: the production defaults
// m=19456 KiB, t=2, p=1 unless the environment says otherwise), on the libuv thread pool with
// the same UV_THREADPOOL_SIZE (inherited). POST /auth/login takes a login's JSON body and
// answers after one argon2.verify of that password against a hash made with those parameters:
// the work a successful login cannot avoid, served and measured like every other process
// (the HTTP around it is a few tens of microseconds beside a hash's tens of milliseconds).
import argon2 from 'argon2'
import { ceilingApp, listen } from './common.js'

const { app, config } = ceilingApp()
const PASSWORD = 'correct horse battery staple'
const hash = await argon2.hash(PASSWORD, {
  type: argon2.argon2id,
  memoryCost: config.argon2.memoryKiB,
  timeCost: config.argon2.timeCost,
  parallelism: config.argon2.parallelism,
})
const Body = {
  type: 'object',
  properties: { email: { type: 'string', maxLength: 320 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
  required: ['email', 'password'],
}
app.post('/auth/login', { schema: { body: Body } }, async (request, reply) => {
  const { password } = /** @type {{ password: string }} */ (request.body)
  if (!(await argon2.verify(hash, password.normalize('NFC')))) return reply.code(401).send({ error: 'invalid_credentials' })
  return { ok: true }
})
await listen(app, config)
