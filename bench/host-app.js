// @ts-check
// A host application as a team would write one: its own Fastify, the auth plugin registered
// from the package's entry (`fastify-auth-service`, i.e. the built dist/index.js), and a route
// of its own protected by `app.authn.authenticate`. The standalone server has no such route;
// this is what the benchmark loads for "a host route behind the plugin". Same Fastify options
// as the server and the ceilings (so the comparison with ceiling A is like for like), same
// operator routes (/health/live, /metrics with the plugin's metrics and the process's).
//
// Environment: DATABASE_URL, JWT_PRIVATE_KEY, JWT_KEY_ID, REFRESH_TOKEN_SECRET, MFA_ENCRYPTION_KEY, HOST, PORT,
// DENYLIST_SYNC_INTERVAL_MS (optional), METRICS_TOKEN, NODE_ENV, LOG_LEVEL, SMTP_URL, MAIL_FROM,
// EMAIL_VERIFICATION.
import auth from 'fastify-auth-service'
import { ceilingApp, listen } from './ceilings/common.js'

const env = (/** @type {string} */ name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is required`)
  return v
}
const { app, config, registry } = ceilingApp()
await app.register(auth, {
  prefix: '/auth',
  database: env('DATABASE_URL'),
  keys: {
    signing: { kid: env('JWT_KEY_ID'), privateKey: env('JWT_PRIVATE_KEY') },
    refreshTokenSecret: env('REFRESH_TOKEN_SECRET'),
  },
  mfa: { encryptionKey: env('MFA_ENCRYPTION_KEY') },
  ...(process.env.DENYLIST_SYNC_INTERVAL_MS ? { denylist: { syncIntervalMs: Number(process.env.DENYLIST_SYNC_INTERVAL_MS) } } : {}),
  // Required in production (bench/lib/server.ts sets it, and the mail settings; the bench never mails).
  tokens: { issuer: env('ISSUER') },
  mail: { transport: env('SMTP_URL'), from: env('MAIL_FROM') },
  emailVerification: { enabled: process.env.EMAIL_VERIFICATION !== 'false' },
  metricsRegistry: registry,
})

const Notes = {
  type: 'object',
  properties: {
    owner: { type: 'string' },
    notes: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, text: { type: 'string' } } } },
  },
  required: ['owner', 'notes'],
}
// A real app would read the notes from its own store; the bench measures the access check.
app.get('/notes', { preHandler: app.authn.authenticate, schema: { response: { 200: Notes } } }, async (request) => ({
  owner: /** @type {NonNullable<typeof request.authn>} */ (request.authn).sub,
  notes: [],
}))
await listen(app, config)
