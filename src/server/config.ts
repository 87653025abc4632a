// The standalone server's configuration: every variable it reads, parsed and checked once at
// start. A bad value stops the process with a message naming the variable; nothing is read
// from process.env later. The auth plugin's part is turned into its options
// (src/options.ts) and checked by the plugin's own rules here already, so a bad key or a weak
// secret stops the start too, named by its variable.
import { resolve } from 'node:path'
import { isIP } from 'node:net'
import {
  AuthOptionsError,
  DEFAULT_AUDIENCE,
  DEFAULT_PRODUCT_NAME,
  DEV_MAIL_FROM,
  DEFAULT_REDIS_KEY_PREFIX,
  NUMERIC_SETTINGS,
  boundsOf,
  resolveAuthOptions,
  type AuthPluginOptions,
  type AuthSettings,
  type NumericSetting,
  type SigningKeyOption,
} from '../options.js'
import { loadDevSecrets } from './dev-secrets.js'

export type { JwtAlgorithm, PreviousKey, SigningKey } from '../keys.js'

/**
 * Who may tell us the client's address in X-Forwarded-For. false: nobody, the peer is the client.
 * A number: that many proxies in front, each appending the address it saw (the peer is the
 * nearest). A list: the proxies' addresses or CIDRs; entries are skipped from the right while
 * they are listed. Never "everyone": the leftmost entries are whatever the client wrote.
 */
export type TrustProxy = false | number | string[]

export interface ServerSettings {
  env: 'development' | 'production' | 'test'
  host: string
  port: number
  logLevel: string
  /** a log line for every request and its answer (Fastify's request logging) */
  logRequests: boolean
  /** null: start the embedded Postgres in dataDir (in production only with EMBEDDED_POSTGRES_IN_PRODUCTION=true) */
  databaseUrl: string | null
  /** a direct connection for LISTEN when DATABASE_URL goes through a transaction pooler */
  databaseDirectUrl: string | null
  dataDir: string
  embeddedPgPort: number
  /** serve the demo page at / and the browser SDK at /sdk.js */
  demoPage: boolean
  trustProxy: TrustProxy
  /** serve Prometheus metrics at /metrics; a bearer token guards it when set */
  metrics: { enabled: boolean; token: string | null }
  /** the plugin's options, all but the database, which is known once it is open */
  auth: Omit<AuthPluginOptions, 'database'>
}

/** The server's settings, and the plugin's settings as the plugin will resolve them. */
export type Config = ServerSettings & Omit<AuthSettings, 'database'>

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
  }
}

type Env = Record<string, string | undefined>

// The variable each non-numeric plugin option comes from, to name it in a problem.
const OPTION_VARIABLES: Record<string, string> = {
  'keys.previous': 'JWT_PREVIOUS_JWKS',
  'keys.refreshTokenSecret': 'REFRESH_TOKEN_SECRET',
  'tokens.issuer': 'ISSUER',
  'tokens.includeEmail': 'ACCESS_TOKEN_EMAIL',
  'clients.public': 'OAUTH_PUBLIC_CLIENTS',
  'clients.confidential': 'OAUTH_CLIENTS',
  'tokens.audience': 'JWT_AUDIENCE',
  'cookies.secure': 'COOKIE_SECURE',
  corsOrigins: 'CORS_ORIGINS',
  'limits.redis.url': 'REDIS_URL',
  'mail.transport': 'SMTP_URL',
  'mail.from': 'MAIL_FROM',
  'mail.productName': 'MAIL_PRODUCT_NAME',
  'links.resetPassword': 'RESET_PASSWORD_URL',
  'links.verifyEmail': 'VERIFY_EMAIL_URL',
  'links.confirmEmailChange': 'CONFIRM_EMAIL_CHANGE_URL',
  'links.undoEmailChange': 'UNDO_EMAIL_CHANGE_URL',
  'emailVerification.enabled': 'EMAIL_VERIFICATION',
  'emailVerification.required': 'REQUIRE_VERIFIED_EMAIL',
  'passwordReset.logsIn': 'PASSWORD_RESET_LOGS_IN',
  'mfa.encryptionKey': 'MFA_ENCRYPTION_KEY',
  'mfa.issuer': 'MFA_ISSUER',
  'webauthn.rpId': 'WEBAUTHN_RP_ID',
  'webauthn.origins': 'WEBAUTHN_ORIGINS',
  'webauthn.rpName': 'WEBAUTHN_RP_NAME',
  ...Object.fromEntries(Object.entries(NUMERIC_SETTINGS).map(([path, s]) => [path, s.env])),
}

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = []
  const r = new Reader(env, problems)

  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development')
  const production = nodeEnv === 'production'
  const dataDir = resolve(r.str('DATA_DIR', '.data'))
  const algorithm = r.oneOf('JWT_ALGORITHM', ['EdDSA', 'HS256'] as const, 'EdDSA')
  const dev = production ? null : () => loadDevSecrets(dataDir)

  const numbers: Record<string, number> = {}
  for (const [path, s] of Object.entries(NUMERIC_SETTINGS)) {
    const { min, max } = boundsOf(path as NumericSetting, production)
    numbers[path] = r.int(s.env, s.default, min, max)
  }
  const n = (path: NumericSetting) => numbers[path]!

  const signing = signingKeyOption(r, algorithm, production, problems, dev)
  const refreshSecret = r.optional('REFRESH_TOKEN_SECRET') ?? (dev ? Buffer.from(dev().refreshSecret, 'base64url') : null)
  if (refreshSecret === null) problems.push('REFRESH_TOKEN_SECRET is required in production (32+ random bytes)')
  const previous = previousJwks(r, problems)
  const redisUrl = r.optional('REDIS_URL')
  const port = r.int('PORT', 3000, 0, 65_535)
  const demoPage = r.bool('DEMO_PAGE', !production)
  const mail = mailOption(r, production, problems, n)
  const links = linkOptions(r, production, demoPage, port)
  // Outside production: generated with the other development secrets when they are; with a
  // REFRESH_TOKEN_SECRET given, the plugin derives one from it instead (nothing is written).
  const mfaKey = r.optional('MFA_ENCRYPTION_KEY') ?? (dev && r.optional('REFRESH_TOKEN_SECRET') === null ? dev().mfaEncryptionKey : null)
  if (mfaKey === null && production) problems.push('MFA_ENCRYPTION_KEY is required in production (32+ random bytes): it encrypts the authenticator apps\' secrets')
  const webauthn = webauthnOption(r, production, port)
  const host = r.str('HOST', '127.0.0.1')

  const auth: Omit<AuthPluginOptions, 'database'> = {
    prefix: '/auth',
    production,
    keys: {
      signing: signing ?? { kid: 'invalid', algorithm: 'HS256', secret: 'x' },
      ...(previous ? { previous } : {}),
      refreshTokenSecret: refreshSecret ?? Buffer.alloc(32, 1),
    },
    tokens: {
      issuer: issuerOf(r, production, host, port),
      includeEmail: r.bool('ACCESS_TOKEN_EMAIL', false),
      audience: r.str('JWT_AUDIENCE', DEFAULT_AUDIENCE),
      accessTtlSec: n('tokens.accessTtlSec'),
      refreshTtlSec: n('tokens.refreshTtlSec'),
      sessionMaxAgeSec: n('tokens.sessionMaxAgeSec'),
      reuseWindowSec: n('tokens.reuseWindowSec'),
      verifiedCacheSize: n('tokens.verifiedCacheSize'),
    },
    passwords: {
      memoryKiB: n('passwords.memoryKiB'),
      timeCost: n('passwords.timeCost'),
      parallelism: n('passwords.parallelism'),
      concurrency: n('passwords.concurrency'),
    },
    cookies: { secure: r.bool('COOKIE_SECURE', production) },
    corsOrigins: r.origins('CORS_ORIGINS'),
    limits: {
      loginPerIp: n('limits.loginPerIp'),
      registerPerIp: n('limits.registerPerIp'),
      refreshPerSession: n('limits.refreshPerSession'),
      windowSec: n('limits.windowSec'),
      mailPerIp: n('limits.mailPerIp'),
      codePerIp: n('limits.codePerIp'),
      mailPerAddress: n('limits.mailPerAddress'),
      mailAddressWindowSec: n('limits.mailAddressWindowSec'),
      codeAttempts: n('limits.codeAttempts'),
      redis: redisUrl === null ? null : { url: redisUrl, keyPrefix: r.str('REDIS_KEY_PREFIX', DEFAULT_REDIS_KEY_PREFIX) },
      lockout: {
        afterFailures: n('limits.lockout.afterFailures'),
        baseSec: n('limits.lockout.baseSec'),
        maxSec: n('limits.lockout.maxSec'),
        resetSec: n('limits.lockout.resetSec'),
      },
      proofOfWork: {
        afterFailures: n('limits.proofOfWork.afterFailures'),
        baseBits: n('limits.proofOfWork.baseBits'),
        maxBits: n('limits.proofOfWork.maxBits'),
        challengeTtlSec: n('limits.proofOfWork.challengeTtlSec'),
      },
    },
    denylist: { syncIntervalMs: n('denylist.syncIntervalMs') },
    clients: {
      public: r.list('OAUTH_PUBLIC_CLIENTS') ?? undefined,
      confidential: confidentialClients(r, problems),
    },
    feed: { heartbeatMs: n('feed.heartbeatMs') },
    cleanup: { intervalSec: n('cleanup.intervalSec'), retentionSec: n('cleanup.retentionSec'), batchSize: n('cleanup.batchSize') },
    audit: { retentionDays: n('audit.retentionDays') },
    mail,
    links,
    emailVerification: {
      enabled: r.bool('EMAIL_VERIFICATION', true),
      required: r.bool('REQUIRE_VERIFIED_EMAIL', false),
      ttlSec: n('emailVerification.ttlSec'),
    },
    passwordReset: { logsIn: r.bool('PASSWORD_RESET_LOGS_IN', false), ttlSec: n('passwordReset.ttlSec') },
    emailChange: { ttlSec: n('emailChange.ttlSec'), undoTtlSec: n('emailChange.undoTtlSec') },
    mfa: {
      ...(mfaKey !== null ? { encryptionKey: mfaKey } : production ? { encryptionKey: Buffer.alloc(32, 1) } : {}),
      ...(r.optional('MFA_ISSUER') ? { issuer: r.str('MFA_ISSUER', DEFAULT_PRODUCT_NAME) } : {}),
      stepUpMaxAgeSec: n('mfa.stepUpMaxAgeSec'),
      challengeTtlSec: n('mfa.challengeTtlSec'),
    },
    ...(webauthn ? { webauthn } : {}),
  }
  // Pool settings are the plugin's, but the pool is the server's to describe.
  const pool = { poolSize: n('database.poolSize'), lockTimeoutMs: n('database.lockTimeoutMs'), statementTimeoutMs: n('database.statementTimeoutMs') }

  const server: ServerSettings = {
    env: nodeEnv,
    host,
    port,
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    // Two lines per request cost a measurable share of a small route's throughput (README:
    // Benchmarks); production turns them on when it wants them.
    logRequests: r.bool('LOG_REQUESTS', !production),
    databaseUrl: r.optional('DATABASE_URL'),
    databaseDirectUrl: r.optional('DATABASE_DIRECT_URL'),
    dataDir,
    embeddedPgPort: r.int('EMBEDDED_PG_PORT', 54329, 1024, 65_535),
    demoPage,
    trustProxy: trustProxy(r.optional('TRUST_PROXY'), problems),
    metrics: { enabled: r.bool('METRICS', false), token: r.optional('METRICS_TOKEN') },
    auth,
  }
  // The embedded server is a development convenience: one machine, its data in a local folder,
  // no backups or failover. Production gets it only when the operator says so in as many words.
  const embeddedInProduction = r.bool('EMBEDDED_POSTGRES_IN_PRODUCTION', false)
  if (production && server.databaseUrl === null && !embeddedInProduction) {
    problems.push(
      'DATABASE_URL is required in production (postgresql://user:password@host:5432/database); ' +
        'to run the embedded PostgreSQL in DATA_DIR anyway, set EMBEDDED_POSTGRES_IN_PRODUCTION=true',
    )
  }
  for (const [name, value] of [['DATABASE_URL', server.databaseUrl], ['DATABASE_DIRECT_URL', server.databaseDirectUrl]] as const) {
    if (value !== null && !/^postgres(ql)?:\/\//.test(value)) problems.push(`${name} must be a postgresql:// connection string`)
  }

  // The plugin's own rules (keys, secret strength, relations between settings), named by the
  // variable each option came from. The database is checked when it is opened.
  let settings: AuthSettings | null = null
  if (problems.length === 0) {
    try {
      settings = resolveAuthOptions({ ...auth, database: { url: 'postgresql://checked-at-open', ...pool } })
    } catch (err) {
      if (!(err instanceof AuthOptionsError)) throw err
      for (const p of err.problems) problems.push(asVariableProblem(p.option, p.message, algorithm))
    }
  }
  if (problems.length > 0 || settings === null) throw new ConfigError(problems)
  const { database: _checkedAtOpen, ...resolved } = settings
  return { ...server, ...resolved }
}

/**
 * Only what opening the database takes (`npm run migrate` needs no keys): DATABASE_URL, or the
 * embedded server's folder and port, with production's refusal of the embedded server.
 */
export function loadDatabaseConfig(env: Env = process.env): Pick<Config, 'env' | 'databaseUrl' | 'databaseDirectUrl' | 'dataDir' | 'embeddedPgPort'> {
  const problems: string[] = []
  const r = new Reader(env, problems)
  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development')
  const databaseUrl = r.optional('DATABASE_URL')
  if (nodeEnv === 'production' && databaseUrl === null && !r.bool('EMBEDDED_POSTGRES_IN_PRODUCTION', false)) {
    problems.push('DATABASE_URL is required in production; to use the embedded PostgreSQL in DATA_DIR anyway, set EMBEDDED_POSTGRES_IN_PRODUCTION=true')
  }
  const config = {
    env: nodeEnv,
    databaseUrl,
    databaseDirectUrl: r.optional('DATABASE_DIRECT_URL'),
    dataDir: resolve(r.str('DATA_DIR', '.data')),
    embeddedPgPort: r.int('EMBEDDED_PG_PORT', 54329, 1024, 65_535),
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

/**
 * SMTP_URL and MAIL_FROM. Without SMTP_URL, outside production, every mail is a log line with
 * its link and code (the log transport), so `npm start` needs nothing more; in production that
 * would send nothing, so it stops the start.
 */
function mailOption(r: Reader, production: boolean, problems: string[], n: (path: NumericSetting) => number): NonNullable<AuthPluginOptions['mail']> {
  const smtpUrl = r.optional('SMTP_URL')
  const from = r.optional('MAIL_FROM')
  if (production && smtpUrl === null) {
    problems.push('SMTP_URL is required in production (smtp://user:password@host:587 or smtps://…): password reset and email verification send mail')
  }
  if (production && from === null) problems.push('MAIL_FROM is required in production: the From address of the mails, e.g. "Example <no-reply@example.com>"')
  return {
    transport: smtpUrl ?? 'log',
    from: from ?? DEV_MAIL_FROM,
    productName: r.str('MAIL_PRODUCT_NAME', DEFAULT_PRODUCT_NAME),
    retry: { attempts: n('mail.retry.attempts'), baseDelayMs: n('mail.retry.baseDelayMs') },
    timeoutMs: n('mail.timeoutMs'),
  }
}

// The pages mail links open. Each defaults to the demo page's own, at PUBLIC_URL (outside
// production: http://localhost:PORT), when the demo page is served; otherwise a flow without a
// page mails its code only.
function linkOptions(r: Reader, production: boolean, demoPage: boolean, port: number): NonNullable<AuthPluginOptions['links']> {
  const publicUrl = (r.optional('PUBLIC_URL') ?? (production ? null : `http://localhost:${port}`))?.replace(/\/+$/, '') ?? null
  const demo = (path: string) => (demoPage && publicUrl !== null ? `${publicUrl}${path}` : null)
  const entries = {
    resetPassword: r.optional('RESET_PASSWORD_URL') ?? demo('/reset-password'),
    verifyEmail: r.optional('VERIFY_EMAIL_URL') ?? demo('/verify-email'),
    confirmEmailChange: r.optional('CONFIRM_EMAIL_CHANGE_URL') ?? demo('/confirm-email-change'),
    undoEmailChange: r.optional('UNDO_EMAIL_CHANGE_URL') ?? demo('/undo-email-change'),
  }
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== null)) as NonNullable<AuthPluginOptions['links']>
}

// Passkeys: WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS, or else the host of PUBLIC_URL and its origin,
// or else (outside production) http://localhost:PORT, where the demo page is. In production
// without either, passkeys are off.
function webauthnOption(r: Reader, production: boolean, port: number): AuthPluginOptions['webauthn'] {
  const rpName = r.optional('WEBAUTHN_RP_NAME') ?? undefined
  const rpId = r.optional('WEBAUTHN_RP_ID')
  const origins = r.list('WEBAUTHN_ORIGINS') ?? []
  if (rpId !== null) return { rpId, origins: origins.length > 0 ? origins : [`https://${rpId}`], ...(rpName ? { rpName } : {}) }
  const publicUrl = r.optional('PUBLIC_URL') ?? (production ? null : `http://localhost:${port}`)
  if (publicUrl === null) return undefined
  let url: URL
  try {
    url = new URL(publicUrl)
  } catch {
    return undefined
  }
  // Derived only where browsers allow WebAuthn: https, or http on localhost; never an IP address.
  const usable = isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 && (url.protocol === 'https:' || url.hostname === 'localhost')
  if (!usable) return undefined
  return { rpId: url.hostname, origins: origins.length > 0 ? origins : [url.origin], ...(rpName ? { rpName } : {}) }
}

/**
 * ISSUER: the URL clients reach the plugin's routes at (https in production, where it is
 * required). Outside production it is derived from PUBLIC_URL, or HOST and PORT, plus /auth.
 */
function issuerOf(r: Reader, production: boolean, host: string, port: number): string | undefined {
  const set = r.optional('ISSUER')
  if (set !== null || production) return set ?? undefined
  const publicUrl = r.optional('PUBLIC_URL')?.replace(/\/+$/, '')
  if (publicUrl) return `${publicUrl}/auth`
  const name = ['0.0.0.0', '::', ''].includes(host) ? 'localhost' : isIP(host) === 6 ? `[${host}]` : host
  return `http://${name}:${port}/auth`
}

/** OAUTH_CLIENTS: a JSON array of {"client_id", "client_secret"}; the plugin checks each one. */
function confidentialClients(r: Reader, problems: string[]): { client_id: string; client_secret: string }[] | undefined {
  const raw = r.optional('OAUTH_CLIENTS')
  if (raw === null) return undefined
  try {
    const list = JSON.parse(raw) as unknown
    if (Array.isArray(list)) return list as { client_id: string; client_secret: string }[]
  } catch {
    // reported below
  }
  problems.push('OAUTH_CLIENTS must be a JSON array of {"client_id": "…", "client_secret": "…"}')
  return undefined
}

function asVariableProblem(option: string, message: string, algorithm: 'EdDSA' | 'HS256'): string {
  const names: Record<string, string> = { ...OPTION_VARIABLES, 'keys.signing': algorithm === 'HS256' ? 'JWT_SECRET' : 'JWT_PRIVATE_KEY' }
  let text = message
  for (const [path, variable] of Object.entries(names)) text = text.split(path).join(variable)
  // clients.confidential[2] -> OAUTH_CLIENTS[2]
  const base = option.replace(/\[\d+\]$/, '')
  return `${names[base] !== undefined ? names[base] + option.slice(base.length) : option} ${text}`
}

function signingKeyOption(
  r: Reader,
  algorithm: 'EdDSA' | 'HS256',
  production: boolean,
  problems: string[],
  dev: (() => ReturnType<typeof loadDevSecrets>) | null,
): SigningKeyOption | null {
  if (algorithm === 'HS256') {
    const secret = r.optional('JWT_SECRET')
    if (secret !== null) return { kid: r.str('JWT_KEY_ID', 'hs256-1'), algorithm: 'HS256', secret }
    if (production || !dev) {
      problems.push('JWT_SECRET is required with JWT_ALGORITHM=HS256 in production')
      return null
    }
    return { kid: r.str('JWT_KEY_ID', 'dev-hs256'), algorithm: 'HS256', secret: dev().hs256Secret }
  }
  const pem = r.optional('JWT_PRIVATE_KEY')
  if (pem !== null) return { kid: r.str('JWT_KEY_ID', 'ed25519-1'), privateKey: pem }
  if (production || !dev) {
    problems.push('JWT_PRIVATE_KEY (an Ed25519 private key in PEM) is required in production')
    return null
  }
  const secrets = dev()
  return { kid: secrets.kid, privateKey: secrets.ed25519PrivatePem }
}

/**
 * JWT_PREVIOUS_JWKS: the public keys of signing keys this deployment has retired, as a JWKS
 * (what /.well-known/jwks.json published while each was current); the plugin checks each key.
 */
function previousJwks(r: Reader, problems: string[]): { keys: unknown[] } | null {
  const raw = r.optional('JWT_PREVIOUS_JWKS')
  if (raw === null) return null
  try {
    return JSON.parse(raw) as { keys: unknown[] }
  } catch {
    problems.push('JWT_PREVIOUS_JWKS is not JSON; expected a JWKS, {"keys":[…]}')
    return null
  }
}

// More hops than any real chain has trusts entries the client wrote, as true would.
const MAX_PROXY_HOPS = 10

function trustProxy(raw: string | null, problems: string[]): TrustProxy {
  if (raw === null) return false
  const value = raw.trim()
  const word = value.toLowerCase()
  if (word === 'false' || word === 'no') return false
  // Fastify's true takes the leftmost X-Forwarded-For entry, which the client writes: any
  // address per request (no per-IP limit, anyone's lock) or any text (stored as a session's ip).
  if (word === 'true' || word === 'yes') {
    problems.push(
      'TRUST_PROXY=true would trust every X-Forwarded-For entry, including the ones the client writes itself; ' +
        'set the number of proxies in front of the service, each appending the address it saw (TRUST_PROXY=1 for one load balancer), ' +
        'or their addresses or CIDRs (TRUST_PROXY=10.0.0.0/8 or TRUST_PROXY=10.0.0.7,2001:db8::/48). README: Client address behind proxies',
    )
    return false
  }
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    if (hops > MAX_PROXY_HOPS) {
      problems.push(`TRUST_PROXY as a hop count must be 1 to ${MAX_PROXY_HOPS}, the proxies in front of the service (got "${value}")`)
      return false
    }
    return hops === 0 ? false : hops
  }
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean)
  let ok = true
  for (const entry of entries) {
    const why = proxyEntryProblem(entry)
    if (why) {
      problems.push(`TRUST_PROXY: "${entry}" ${why}`)
      ok = false
    }
  }
  return ok ? entries : false
}

function proxyEntryProblem(entry: string): string | null {
  const slash = entry.indexOf('/')
  const version = isIP(slash === -1 ? entry : entry.slice(0, slash))
  if (version === 0) return 'is not an IP address or CIDR (like 10.0.0.7 or 10.0.0.0/8); give a hop count or the proxies\' addresses'
  if (slash === -1) return null
  const max = version === 4 ? 32 : 128
  const prefix = entry.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `has no prefix length from 1 to ${max}`
  if (Number(prefix) === 0) return 'covers every address, which trusts what any client writes, as true would'
  return null
}

class Reader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  optional(name: string): string | null {
    const v = this.env[name]
    return v === undefined || v.trim() === '' ? null : v
  }

  str(name: string, fallback: string): string {
    return this.optional(name) ?? fallback
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name)
    if (raw === null) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`)
      return fallback
    }
    return n
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.optional(name)
    if (raw === null) return fallback
    if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true
    if (['false', '0', 'no'].includes(raw.toLowerCase())) return false
    this.problems.push(`${name} must be true or false (got "${raw}")`)
    return fallback
  }

  /** comma-separated list of exact origins (scheme://host[:port]) */
  origins(name: string): string[] {
    const raw = this.optional(name)
    if (raw === null) return []
    const list = raw.split(',').map((s) => s.trim()).filter(Boolean)
    for (const o of list) {
      let ok = false
      try {
        const u = new URL(o)
        ok = (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === o
      } catch {
        ok = false
      }
      if (!ok) this.problems.push(`${name}: "${o}" is not an origin like https://app.example.com (no path, no trailing slash)`)
    }
    return list
  }

  /** a comma-separated list; null when unset */
  list(name: string): string[] | null {
    const raw = this.optional(name)
    return raw === null ? null : raw.split(',').map((s) => s.trim()).filter(Boolean)
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name)
    if (raw === null) return fallback
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`)
      return fallback
    }
    return raw as T
  }
}
