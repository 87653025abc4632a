// @ts-check
// Ceiling A2: ceiling A plus one raw Ed25519 verification per request, node:crypto's verify on
// a message the size of an access token's signed part, with the deployment's key. It is what
// checking a signature on every request costs at the least, without parsing, claims, a cache
// or the denylist: a figure above it means verifications were skipped (cached).
import { createPrivateKey, createPublicKey, randomUUID, sign, verify } from 'node:crypto'
import { ME_CONSTANT, ME_SCHEMA, ceilingApp, listen } from './common.js'

const pem = process.env.JWT_PRIVATE_KEY
if (!pem) throw new Error('JWT_PRIVATE_KEY is required')
const privateKey = createPrivateKey(pem)
const publicKey = createPublicKey(privateKey)
// Header and claims as the server signs them (see bench/lib/access-tokens.ts), so the message
// hashed inside Ed25519 has a real token's length.
const b64 = (/** @type {unknown} */ o) => Buffer.from(JSON.stringify(o)).toString('base64url')
const now = Math.floor(Date.now() / 1000)
const id = randomUUID()
const message = Buffer.from(
  `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid: process.env.JWT_KEY_ID ?? 'bench-1' })}.` +
    b64({ sub: id, sid: randomUUID(), email: `bench-${id}@example.com`, email_verified: false, jti: randomUUID(), iat: now, exp: now + 900, iss: 'fastify-auth', aud: 'fastify-auth-api' }),
)
const signature = sign(null, message, privateKey)

const { app, config } = ceilingApp()
app.get('/auth/me', { schema: ME_SCHEMA }, async () => {
  if (!verify(null, message, publicKey, signature)) throw new Error('signature did not verify')
  return ME_CONSTANT
})
await listen(app, config)
