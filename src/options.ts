// The plugin's options: what a host passes to `app.register(auth, {...})`, checked once at
// register time (like @fastify/jwt's), so a bad configuration fails `ready()` with a message
// naming the option, never the first request. Nothing here reads the environment: the
// standalone server turns its environment into these options (src/server/config.ts).
import type { KeyObject } from 'node:crypto'
import { hkdfSync } from 'node:crypto'
import type pg from 'pg'
import { previousKeysFromJwks, signingKeyFrom, type PreviousKey, type SigningKey } from './keys.js'
import { weakSecretReason } from './secrets.js'
import { MAIL_KINDS, templatesWith, type MailKind, type MailTemplate } from './mail/templates.js'
import { isSendMailLike, isSmtpUrl, type SendMailLike } from './mail/transport.js'
import { resolveClients, type ClientRegistry, type ConfidentialClientOption } from './oauth/clients.js'

/** Where the plugin's tables live: a connection string it opens a pool for, or the host's own pool. */
export type DatabaseOption =
  | string
  | pg.Pool
  | {
      /** a connection string: the plugin opens a pool and closes it on close */
      url?: string
      /** or the host's pool: the plugin uses it and never closes it */
      pool?: pg.Pool
      /** connections of the plugin's own pool (with `url`) */
      poolSize?: number
      /**
       * When `url` or `pool` goes through a transaction pooler such as PgBouncer: a direct
       * connection to the same database, for LISTEN (revocations reach every instance through
       * it), which does not work through a pooler. The plugin's own pool then sends no session
       * settings at connect; the timeouts come from the role (ALTER ROLE ... SET lock_timeout,
       * statement_timeout). Default: `url`, or a connection taken from `pool`.
       */
      directUrl?: string
      /** the longest a statement waits for a row lock (503 past it) */
      lockTimeoutMs?: number
      /** the longest a statement runs (503 past it) */
      statementTimeoutMs?: number
    }

/** The key that signs access tokens: Ed25519 (EdDSA, published in the JWKS) or an HS256 shared secret. */
export type SigningKeyOption =
  | { kid: string; algorithm?: 'EdDSA'; privateKey: string | KeyObject }
  | { kid: string; algorithm: 'HS256'; secret: string }

export interface AuthPluginOptions {
  /** where the routes live (Fastify's register option); the refresh cookie's path follows it */
  prefix?: string
  /**
   * true (the default): refuse weak secrets, argon2 below OWASP's minimum and cookies without
   * Secure. false only for development and tests.
   */
  production?: boolean
  database: DatabaseOption
  keys: {
    signing: SigningKeyOption
    /** public keys of retired signing keys (a JWKS): their tokens verify until they expire */
    previous?: { keys: unknown[] }
    /** 32+ random bytes: derives each refresh token's child, and the proof-of-work key */
    refreshTokenSecret: string | Buffer
  }
  tokens?: {
    /**
     * The issuer identifier (RFC 8414): the absolute URL where the plugin's routes are reached,
     * https in production, e.g. `https://api.example.com/auth`. Every access token's `iss`; the
     * metadata's endpoints are this URL plus their route. Required in production; outside it,
     * `http://localhost` plus the mount path.
     */
    issuer?: string
    /** put the account's `email` in access tokens (personal data; default false) */
    includeEmail?: boolean
    audience?: string
    accessTtlSec?: number
    /** a refresh token unused this long expires (the session's idle lifetime) */
    refreshTtlSec?: number
    /** a session ends this long after login whatever its use */
    sessionMaxAgeSec?: number
    /** how long the parent of the live refresh token replays to the same child; 0 disables */
    reuseWindowSec?: number
    /** verified access tokens remembered until they expire, so a repeated one skips the signature check */
    verifiedCacheSize?: number
  }
  /** argon2id cost */
  passwords?: { memoryKiB?: number; timeCost?: number; parallelism?: number; concurrency?: number }
  /** Secure cookies with the __Host-/__Secure- prefixes; default: `production` */
  cookies?: { secure?: boolean }
  /** origins allowed to call the plugin's routes with credentials (CORS) and to pass its CSRF origin check */
  corsOrigins?: string[]
  limits?: {
    loginPerIp?: number
    registerPerIp?: number
    /** rotations per session per window */
    refreshPerSession?: number
    windowSec?: number
    /** mail-sending requests (forgot, resend, change of address) and link or code submissions, per client IP per window */
    mailPerIp?: number
    codePerIp?: number
    /** mails one address can be sent by anonymous requests per `mailAddressWindowSec` */
    mailPerAddress?: number
    mailAddressWindowSec?: number
    /** wrong guesses a mailed code survives */
    codeAttempts?: number
    /** per-IP counters in Redis instead of Postgres */
    redis?: { url: string; keyPrefix?: string } | null
    /** failed logins per account and client IP before a lock, and the lock's growth */
    lockout?: { afterFailures?: number; baseSec?: number; maxSec?: number; resetSec?: number }
    /** failed logins per account from every address before a proof of work is asked */
    proofOfWork?: { afterFailures?: number; baseBits?: number; maxBits?: number; challengeTtlSec?: number }
  }
  denylist?: { syncIntervalMs?: number }
  /**
   * OAuth clients. `public`: the client ids a login may name (default ["web", "mobile"]),
   * `defaultClient` the one a login that names none gets (default the first). `confidential`:
   * services that authenticate with a secret (32+ random characters) to introspect tokens and
   * read the revocation feed; only a hash of each secret is kept.
   */
  clients?: { public?: string[]; defaultClient?: string; confidential?: ConfidentialClientOption[] }
  /** the revocation feed: a `sync` event every `heartbeatMs` */
  feed?: { heartbeatMs?: number }
  cleanup?: { intervalSec?: number; retentionSec?: number; batchSize?: number }
  audit?: { retentionDays?: number }
  /** serve the routes' OpenAPI document at `{prefix}/openapi.json` (default true) */
  openapi?: boolean
  /** a latency histogram of the routes (auth_http_request_duration_seconds); costs each request a little (default false) */
  requestMetrics?: boolean
  /**
   * How the product's mails go out (password reset, verification, change of address).
   * Required in production. Outside production the default writes each mail to the log.
   */
  mail?: {
    /** an smtp:// or smtps:// URL, a nodemailer transport, or 'log' (development only) */
    transport: 'log' | string | SendMailLike
    /** the From header, e.g. `Example <no-reply@example.com>` */
    from?: string
    /** named in every mail (default: fastify-auth-service) */
    productName?: string
    /** replacements for any of the default templates (src/mail/templates.ts) */
    templates?: Partial<Record<MailKind, MailTemplate>>
    /** sends tried per mail, the wait before the first retry, and the longest an SMTP step may take */
    retry?: { attempts?: number; baseDelayMs?: number }
    timeoutMs?: number
  }
  /**
   * Pages of your app that mail links open, each with the token as its `token` query
   * parameter. A flow without a page sends its code only.
   */
  links?: { resetPassword?: string; verifyEmail?: string; confirmEmailChange?: string; undoEmailChange?: string }
  /**
   * `enabled` (default true): register answers 202 whether or not the address has an account
   * and mails a verification link; false keeps 201 and 409 email_taken (which tell who has an
   * account). `required`: unverified accounts cannot log in (403 email_not_verified).
   */
  emailVerification?: { enabled?: boolean; required?: boolean; ttlSec?: number }
  /** `logsIn`: a reset starts a session and answers with tokens (default false: 204) */
  passwordReset?: { logsIn?: boolean; ttlSec?: number }
  /** how long a change of address waits for confirmation, and how long the old address can undo it */
  emailChange?: { ttlSec?: number; undoTtlSec?: number }
  /**
   * Second factors (README: Second factors and passkeys). `encryptionKey`: 32+ random bytes that
   * encrypt the authenticator apps' secrets at rest (AES-256-GCM); required in production, derived
   * from keys.refreshTokenSecret outside it. `issuer`: the name authenticator apps show (default:
   * mail.productName). `stepUpMaxAgeSec`: how recent a second factor must be for a sensitive
   * action. `challengeTtlSec`: how long a login waits for its second factor.
   */
  mfa?: { encryptionKey?: string | Buffer; issuer?: string; stepUpMaxAgeSec?: number; challengeTtlSec?: number }
  /**
   * Passkeys (WebAuthn): the RP ID (a domain: the site's host or a parent of it) and the exact
   * origins pages that use them are served from. Without it, the passkey routes answer 404.
   */
  webauthn?: { rpId: string; rpName?: string; origins: string[] }
}

/** The options resolved: every default filled in, every key parsed. What the code runs on. */
export interface AuthSettings {
  /** the `prefix` option */
  prefix: string
  /** where the routes are: the host context's prefix, then ours */
  mountPath: string
  production: boolean
  database: { url: string | null; pool: pg.Pool | null; directUrl: string | null }
  db: { poolSize: number; lockTimeoutMs: number; statementTimeoutMs: number }
  jwt: { key: SigningKey; previousKeys: PreviousKey[]; issuer: string; audience: string; accessTtlSec: number; verifiedCacheSize: number; includeEmail: boolean }
  /** the issuer's path ('' for an issuer at an origin's root): where the RFC 8414 metadata is inserted */
  issuerPath: string
  clients: ClientRegistry
  feed: { heartbeatMs: number }
  refresh: { ttlSec: number; sessionMaxSec: number; reuseWindowSec: number; secret: Buffer }
  argon2: { memoryKiB: number; timeCost: number; parallelism: number; concurrency: number }
  cookies: { secure: boolean; refreshPath: string }
  corsOrigins: string[]
  denylist: { syncIntervalMs: number }
  rateLimit: { loginPerIp: number; registerPerIp: number; refreshPerSession: number; windowSec: number }
  redis: { url: string | null; keyPrefix: string }
  lockout: { freeFailures: number; baseSec: number; maxSec: number; resetSec: number }
  loginProofOfWork: { afterFailures: number; baseBits: number; maxBits: number; challengeTtlSec: number; key: Buffer }
  cleanup: { intervalSec: number; retentionSec: number; batchSize: number }
  audit: { retentionDays: number }
  openapi: boolean
  requestMetrics: boolean
  mail: {
    transport: 'log' | string | SendMailLike
    from: string
    productName: string
    templates: Record<MailKind, MailTemplate>
    attempts: number
    baseDelayMs: number
    timeoutMs: number
  }
  links: { resetPassword: string | null; verifyEmail: string | null; confirmEmailChange: string | null; undoEmailChange: string | null }
  emailVerification: { enabled: boolean; required: boolean; ttlSec: number }
  passwordReset: { logsIn: boolean; ttlSec: number }
  emailChange: { ttlSec: number; undoTtlSec: number }
  /** the limits of the mail flows: per client IP (per window), per address (per its own window), guesses per code */
  mailLimits: { perIp: number; codePerIp: number; perAddress: number; addressWindowSec: number; codeAttempts: number }
  /** the HMAC key of the short codes, derived from the refresh-token secret */
  codeKey: Buffer
  mfa: {
    /** AES-256-GCM key of the TOTP secrets */
    encryptionKey: Buffer
    /** HMAC key of the recovery codes (derived from the MFA key) */
    recoveryCodeKey: Buffer
    issuer: string
    stepUpMaxAgeSec: number
    challengeTtlSec: number
  }
  /** null: passkeys are off */
  webauthn: { rpId: string; rpName: string; origins: string[] } | null
}

/** One problem per option, named by its path in the options object. */
export interface OptionProblem {
  option: string
  message: string
}

export class AuthOptionsError extends Error {
  constructor(readonly problems: OptionProblem[]) {
    super(`fastify-auth-service: invalid options:\n  - ${problems.map((p) => `${p.option}: ${p.message}`).join('\n  - ')}`)
  }
}

/**
 * Every numeric setting: its option path, the environment variable the standalone server reads
 * it from, its default and its bounds. One table, so the plugin and the server agree.
 */
export const NUMERIC_SETTINGS = {
  'database.poolSize': { env: 'DB_POOL_SIZE', default: 10, min: 1, max: 500 },
  'database.lockTimeoutMs': { env: 'DB_LOCK_TIMEOUT_MS', default: 2000, min: 10, max: 60_000 },
  'database.statementTimeoutMs': { env: 'DB_STATEMENT_TIMEOUT_MS', default: 5000, min: 10, max: 600_000 },
  'tokens.accessTtlSec': { env: 'ACCESS_TOKEN_TTL', default: 900, min: 30, max: 86_400 },
  'tokens.refreshTtlSec': { env: 'REFRESH_TOKEN_TTL', default: 30 * 86_400, min: 60, max: 400 * 86_400 },
  'tokens.sessionMaxAgeSec': { env: 'SESSION_MAX_AGE', default: 90 * 86_400, min: 60, max: 5 * 365 * 86_400 },
  'tokens.reuseWindowSec': { env: 'REFRESH_REUSE_WINDOW', default: 30, min: 0, max: 300 },
  // Verified access tokens remembered until they expire (about 1 KB each); 0: none.
  'tokens.verifiedCacheSize': { env: 'ACCESS_TOKEN_CACHE_SIZE', default: 10_000, min: 0, max: 10_000_000 },
  // OWASP's minimum for argon2id is m=19 MiB, t=2, p=1; lower is refused in production.
  'passwords.memoryKiB': { env: 'ARGON2_MEMORY_KIB', default: 19_456, min: 19_456, max: 4_194_304, devMin: 8 },
  'passwords.timeCost': { env: 'ARGON2_TIME_COST', default: 2, min: 2, max: 100, devMin: 1 },
  'passwords.parallelism': { env: 'ARGON2_PARALLELISM', default: 1, min: 1, max: 16 },
  // Hashes running at once; 0: one per core (os.availableParallelism()).
  'passwords.concurrency': { env: 'ARGON2_CONCURRENCY', default: 0, min: 0, max: 64 },
  'denylist.syncIntervalMs': { env: 'DENYLIST_SYNC_INTERVAL_MS', default: 500, min: 50, max: 60_000 },
  // How often the revocation feed tells subscribers it is alive and how far it is complete.
  'feed.heartbeatMs': { env: 'REVOCATION_FEED_HEARTBEAT_MS', default: 5000, min: 50, max: 60_000 },
  'limits.loginPerIp': { env: 'RATE_LIMIT_LOGIN_PER_IP', default: 100, min: 1, max: 1_000_000 },
  'limits.registerPerIp': { env: 'RATE_LIMIT_REGISTER_PER_IP', default: 30, min: 1, max: 1_000_000 },
  'limits.refreshPerSession': { env: 'RATE_LIMIT_REFRESH_PER_SESSION', default: 60, min: 1, max: 1_000_000 },
  'limits.windowSec': { env: 'RATE_LIMIT_WINDOW_SEC', default: 60, min: 1, max: 86_400 },
  'limits.lockout.afterFailures': { env: 'LOGIN_LOCK_AFTER_FAILURES', default: 5, min: 1, max: 1000 },
  'limits.lockout.baseSec': { env: 'LOGIN_LOCK_BASE_SEC', default: 1, min: 1, max: 86_400 },
  'limits.lockout.maxSec': { env: 'LOGIN_LOCK_MAX_SEC', default: 900, min: 1, max: 86_400 },
  'limits.lockout.resetSec': { env: 'LOGIN_FAILURE_RESET_SEC', default: 3600, min: 1, max: 7 * 86_400 },
  'limits.proofOfWork.afterFailures': { env: 'LOGIN_POW_AFTER_FAILURES', default: 10, min: 1, max: 1_000_000 },
  'limits.proofOfWork.baseBits': { env: 'LOGIN_POW_BASE_BITS', default: 13, min: 1, max: 24 },
  // 2^16 SHA-256 on average: about half a second to a second of WebCrypto (measured at
  // 60-170k hashes/s in Node's, batched as the SDK does, on a loaded 2-core machine).
  'limits.proofOfWork.maxBits': { env: 'LOGIN_POW_MAX_BITS', default: 16, min: 1, max: 24 },
  'limits.proofOfWork.challengeTtlSec': { env: 'LOGIN_POW_CHALLENGE_TTL_SEC', default: 120, min: 10, max: 3600 },
  'cleanup.intervalSec': { env: 'CLEANUP_INTERVAL_SEC', default: 3600, min: 0, max: 7 * 86_400 },
  // At least a minute: the denylist looks back its retention plus 30 s.
  'cleanup.retentionSec': { env: 'CLEANUP_RETENTION_SEC', default: 7 * 86_400, min: 60, max: 400 * 86_400 },
  'cleanup.batchSize': { env: 'CLEANUP_BATCH_SIZE', default: 1000, min: 1, max: 100_000 },
  'audit.retentionDays': { env: 'AUDIT_RETENTION_DAYS', default: 90, min: 1, max: 10 * 365 },
  'passwordReset.ttlSec': { env: 'PASSWORD_RESET_TTL_SEC', default: 1800, min: 60, max: 86_400 },
  'emailVerification.ttlSec': { env: 'EMAIL_VERIFICATION_TTL_SEC', default: 86_400, min: 300, max: 30 * 86_400 },
  'emailChange.ttlSec': { env: 'EMAIL_CHANGE_TTL_SEC', default: 3600, min: 300, max: 7 * 86_400 },
  'emailChange.undoTtlSec': { env: 'EMAIL_CHANGE_UNDO_TTL_SEC', default: 7 * 86_400, min: 3600, max: 90 * 86_400 },
  // Mail flows (forgot password, resend verification) and the submission of links and codes
  // (reset, verify, confirm, undo): requests per client IP per RATE_LIMIT_WINDOW_SEC.
  'limits.mailPerIp': { env: 'RATE_LIMIT_MAIL_PER_IP', default: 10, min: 1, max: 1_000_000 },
  'limits.codePerIp': { env: 'RATE_LIMIT_CODE_PER_IP', default: 30, min: 1, max: 1_000_000 },
  // Mails one address can be sent by anonymous requests (register, forgot, resend) per window.
  'limits.mailPerAddress': { env: 'RATE_LIMIT_MAIL_PER_ADDRESS', default: 5, min: 1, max: 1_000_000 },
  'limits.mailAddressWindowSec': { env: 'RATE_LIMIT_MAIL_ADDRESS_WINDOW_SEC', default: 3600, min: 1, max: 7 * 86_400 },
  // Wrong guesses a code survives: 5 guesses at a 6-digit code are 1 in 200 000.
  'limits.codeAttempts': { env: 'EMAIL_CODE_MAX_ATTEMPTS', default: 5, min: 1, max: 20 },
  'mail.retry.attempts': { env: 'MAIL_SEND_ATTEMPTS', default: 4, min: 1, max: 10 },
  'mail.retry.baseDelayMs': { env: 'MAIL_RETRY_BASE_MS', default: 2000, min: 10, max: 600_000 },
  'mail.timeoutMs': { env: 'MAIL_TIMEOUT_MS', default: 10_000, min: 100, max: 120_000 },
  // How recent a second factor must be for a sensitive action (password or address change,
  // disabling a factor, removing a passkey, new recovery codes, logging out everywhere).
  'mfa.stepUpMaxAgeSec': { env: 'MFA_STEP_UP_MAX_AGE_SEC', default: 600, min: 30, max: 86_400 },
  // How long a login that passed its password waits for the second factor.
  'mfa.challengeTtlSec': { env: 'MFA_CHALLENGE_TTL_SEC', default: 300, min: 30, max: 3600 },
} as const satisfies Record<string, { env: string; default: number; min: number; max: number; devMin?: number }>

export type NumericSetting = keyof typeof NUMERIC_SETTINGS

/** The bounds of a numeric setting; outside production some minimums are lower (cheap argon2 in tests). */
export function boundsOf(path: NumericSetting, production: boolean): { min: number; max: number } {
  const s: { min: number; max: number; devMin?: number } = NUMERIC_SETTINGS[path]
  return { min: production || s.devMin === undefined ? s.min : s.devMin, max: s.max }
}

export const DEFAULT_AUDIENCE = 'fastify-auth-api'
export const DEFAULT_REDIS_KEY_PREFIX = 'fastify-auth:'
export const DEFAULT_PRODUCT_NAME = 'fastify-auth-service'
export const DEV_MAIL_FROM = 'no-reply@localhost'

/** `mountedAt`: the prefix of the host's context the plugin is registered in ('' at the root). */
export function resolveAuthOptions(input: AuthPluginOptions, mountedAt = ''): AuthSettings {
  const problems: OptionProblem[] = []
  const fail = (option: string, message: string) => problems.push({ option, message })
  if (!input || typeof input !== 'object') throw new AuthOptionsError([{ option: '(options)', message: 'must be an object' }])
  const production = input.production ?? true
  if (typeof production !== 'boolean') fail('production', 'must be true or false')

  const num = (path: NumericSetting): number => {
    const value = getPath(input, path)
    if (value === undefined) return NUMERIC_SETTINGS[path].default
    const { min, max } = boundsOf(path, production)
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      fail(path, `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`)
      return NUMERIC_SETTINGS[path].default
    }
    return value
  }
  const str = (path: string, fallback: string): string => {
    const value = getPath(input, path)
    if (value === undefined) return fallback
    if (typeof value !== 'string' || value.trim() === '') {
      fail(path, 'must be a non-empty string')
      return fallback
    }
    return value
  }

  const prefix = input.prefix ?? ''
  if (typeof prefix !== 'string' || (prefix !== '' && !/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*[^/]$/.test(prefix))) {
    fail('prefix', 'must be a path like /auth or /api/auth (no trailing slash), or empty')
  }

  const database = resolveDatabase(input.database, fail)
  const keys = (input.keys ?? {}) as Partial<AuthPluginOptions['keys']>
  if (input.keys === undefined) fail('keys', 'is required: { signing: { kid, privateKey }, refreshTokenSecret }')
  const signing = keys.signing === undefined ? null : signingKeyFrom(keys.signing, production, (m) => fail('keys.signing', m))
  if (input.keys !== undefined && keys.signing === undefined) fail('keys.signing', 'is required: { kid, privateKey } (Ed25519) or { kid, algorithm: "HS256", secret }')
  const previous =
    keys.previous === undefined || signing === null
      ? []
      : previousKeysFromJwks(keys.previous, signing, (m) => fail('keys.previous', m))
  const refreshSecret = refreshTokenSecret(keys.refreshTokenSecret, production, (m) => fail('keys.refreshTokenSecret', m))

  const secure = input.cookies?.secure ?? production
  if (typeof secure !== 'boolean') fail('cookies.secure', 'must be true or false')
  const corsOrigins = origins(input.corsOrigins, (m) => fail('corsOrigins', m))
  const redis = input.limits?.redis ?? null
  if (redis !== null && !isRedisUrl(redis?.url)) fail('limits.redis.url', 'must be a redis:// or rediss:// URL')
  const openapi = input.openapi ?? true
  if (typeof openapi !== 'boolean') fail('openapi', 'must be true or false')
  const requestMetrics = input.requestMetrics ?? false
  if (typeof requestMetrics !== 'boolean') fail('requestMetrics', 'must be true or false')

  const mail = resolveMail(input.mail, production, fail)
  const links = resolveLinks(input.links, production, fail)
  const bool = (path: string, fallback: boolean): boolean => {
    const value = getPath(input, path)
    if (value === undefined) return fallback
    if (typeof value !== 'boolean') {
      fail(path, 'must be true or false')
      return fallback
    }
    return value
  }

  const mountPath = `${mountedAt}${typeof prefix === 'string' ? prefix : ''}`
  const issuer = resolveIssuer(getPath(input, 'tokens.issuer'), mountPath, production, (m) => fail('tokens.issuer', m))
  const clients = resolveClients(input.clients, production, fail)
  const settings: AuthSettings = {
    prefix: typeof prefix === 'string' ? prefix : '',
    mountPath,
    production,
    database,
    db: { poolSize: num('database.poolSize'), lockTimeoutMs: num('database.lockTimeoutMs'), statementTimeoutMs: num('database.statementTimeoutMs') },
    jwt: {
      key: signing ?? PLACEHOLDER_KEY,
      previousKeys: previous,
      issuer,
      audience: str('tokens.audience', DEFAULT_AUDIENCE),
      accessTtlSec: num('tokens.accessTtlSec'),
      verifiedCacheSize: num('tokens.verifiedCacheSize'),
      includeEmail: bool('tokens.includeEmail', false),
    },
    issuerPath: issuerPathOf(issuer),
    clients,
    feed: { heartbeatMs: num('feed.heartbeatMs') },
    refresh: {
      ttlSec: num('tokens.refreshTtlSec'),
      sessionMaxSec: num('tokens.sessionMaxAgeSec'),
      reuseWindowSec: num('tokens.reuseWindowSec'),
      secret: refreshSecret ?? Buffer.alloc(32),
    },
    argon2: {
      memoryKiB: num('passwords.memoryKiB'),
      timeCost: num('passwords.timeCost'),
      parallelism: num('passwords.parallelism'),
      concurrency: num('passwords.concurrency'),
    },
    // The refresh cookie goes to the plugin's own routes only.
    cookies: { secure, refreshPath: mountPath === '' ? '/' : mountPath },
    corsOrigins,
    denylist: { syncIntervalMs: num('denylist.syncIntervalMs') },
    rateLimit: {
      loginPerIp: num('limits.loginPerIp'),
      registerPerIp: num('limits.registerPerIp'),
      refreshPerSession: num('limits.refreshPerSession'),
      windowSec: num('limits.windowSec'),
    },
    redis: { url: redis?.url ?? null, keyPrefix: redis?.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX },
    lockout: {
      freeFailures: num('limits.lockout.afterFailures'),
      baseSec: num('limits.lockout.baseSec'),
      maxSec: num('limits.lockout.maxSec'),
      resetSec: num('limits.lockout.resetSec'),
    },
    loginProofOfWork: {
      afterFailures: num('limits.proofOfWork.afterFailures'),
      baseBits: num('limits.proofOfWork.baseBits'),
      maxBits: num('limits.proofOfWork.maxBits'),
      challengeTtlSec: num('limits.proofOfWork.challengeTtlSec'),
      // Its own key, not the refresh secret itself: a challenge MAC must never be usable as
      // (or reveal anything about) a derived refresh token.
      key: Buffer.from(hkdfSync('sha256', refreshSecret ?? Buffer.alloc(32), Buffer.alloc(0), 'login-proof-of-work-v1', 32)),
    },
    cleanup: { intervalSec: num('cleanup.intervalSec'), retentionSec: num('cleanup.retentionSec'), batchSize: num('cleanup.batchSize') },
    audit: { retentionDays: num('audit.retentionDays') },
    openapi: openapi === true,
    requestMetrics: requestMetrics === true,
    mail: {
      ...mail,
      attempts: num('mail.retry.attempts'),
      baseDelayMs: num('mail.retry.baseDelayMs'),
      timeoutMs: num('mail.timeoutMs'),
    },
    links,
    emailVerification: {
      enabled: bool('emailVerification.enabled', true),
      required: bool('emailVerification.required', false),
      ttlSec: num('emailVerification.ttlSec'),
    },
    passwordReset: { logsIn: bool('passwordReset.logsIn', false), ttlSec: num('passwordReset.ttlSec') },
    emailChange: { ttlSec: num('emailChange.ttlSec'), undoTtlSec: num('emailChange.undoTtlSec') },
    mailLimits: {
      perIp: num('limits.mailPerIp'),
      codePerIp: num('limits.codePerIp'),
      perAddress: num('limits.mailPerAddress'),
      addressWindowSec: num('limits.mailAddressWindowSec'),
      codeAttempts: num('limits.codeAttempts'),
    },
    // Its own key: a leaked table of code hashes must not be checkable offline, and the key
    // must not be usable as anything else.
    codeKey: Buffer.from(hkdfSync('sha256', refreshSecret ?? Buffer.alloc(32), Buffer.alloc(0), 'email-code-v1', 32)),
    mfa: resolveMfa(input.mfa, production, refreshSecret, mail.productName, num, fail),
    webauthn: resolveWebauthn(input.webauthn, production, mail.productName, fail),
  }

  if (settings.refresh.ttlSec > settings.refresh.sessionMaxSec) fail('tokens.refreshTtlSec', 'must not exceed tokens.sessionMaxAgeSec')
  if (settings.lockout.baseSec > settings.lockout.maxSec) fail('limits.lockout.baseSec', 'must not exceed limits.lockout.maxSec')
  // Otherwise a counter would be forgotten while its lock runs out, and an attacker would get
  // the free failures again after every lock.
  if (settings.lockout.resetSec <= settings.lockout.maxSec) fail('limits.lockout.resetSec', 'must be longer than limits.lockout.maxSec')
  if (settings.loginProofOfWork.baseBits > settings.loginProofOfWork.maxBits) {
    fail('limits.proofOfWork.baseBits', 'must not exceed limits.proofOfWork.maxBits')
  }
  // Browsers drop Secure cookies over http and the prefixed names need Secure: in production
  // the cookie transport works only over https, which is what production is.
  if (production && !secure) fail('cookies.secure', 'must be true in production (cookies travel only over https)')
  if (settings.emailVerification.required && !settings.emailVerification.enabled) {
    fail('emailVerification.required', 'needs emailVerification.enabled: an address nobody can verify would lock its account out')
  }
  if (problems.length > 0) throw new AuthOptionsError(problems)
  return settings
}

function resolveMfa(
  option: AuthPluginOptions['mfa'],
  production: boolean,
  refreshSecret: Buffer | null,
  productName: string,
  num: (path: NumericSetting) => number,
  fail: (option: string, message: string) => void,
): AuthSettings['mfa'] {
  const given = option?.encryptionKey
  let secret: Buffer | null = null
  if (given === undefined) {
    // A key of its own in production: rotating the refresh-token secret must not make every
    // enrolled authenticator app undecryptable, and one leaked secret must not give both away.
    if (production) fail('mfa.encryptionKey', 'is required in production: 32 or more random bytes (a string or a Buffer) that encrypt the authenticator apps\' secrets')
  } else if (typeof given !== 'string' && !Buffer.isBuffer(given)) {
    fail('mfa.encryptionKey', 'must be a string or a Buffer')
  } else {
    const weak = typeof given === 'string' ? weakSecretReason(given) : given.length < 32 ? 'shorter than 32 bytes' : null
    if (weak && production) fail('mfa.encryptionKey', `is too weak: ${weak}`)
    else secret = Buffer.isBuffer(given) ? given : Buffer.from(given, 'utf8')
  }
  const base = secret ?? Buffer.from(hkdfSync('sha256', refreshSecret ?? Buffer.alloc(32), Buffer.alloc(0), 'mfa-development-key-v1', 32))
  const issuer = option?.issuer ?? productName
  if (typeof issuer !== 'string' || issuer.trim() === '' || issuer.includes(':')) fail('mfa.issuer', 'must be a non-empty name without ":" (authenticator apps show it)')
  return {
    encryptionKey: Buffer.from(hkdfSync('sha256', base, Buffer.alloc(0), 'totp-secret-encryption-v1', 32)),
    recoveryCodeKey: Buffer.from(hkdfSync('sha256', base, Buffer.alloc(0), 'recovery-code-v1', 32)),
    issuer: typeof issuer === 'string' ? issuer : productName,
    stepUpMaxAgeSec: num('mfa.stepUpMaxAgeSec'),
    challengeTtlSec: num('mfa.challengeTtlSec'),
  }
}

function resolveWebauthn(
  option: AuthPluginOptions['webauthn'],
  production: boolean,
  productName: string,
  fail: (option: string, message: string) => void,
): AuthSettings['webauthn'] {
  if (option === undefined || option === null) return null
  if (typeof option !== 'object') {
    fail('webauthn', 'must be { rpId, origins, rpName? }')
    return null
  }
  const { rpId, origins: list } = option
  if (typeof rpId !== 'string' || !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(rpId)) {
    fail('webauthn.rpId', 'must be a domain name in lower case, like example.com or localhost (no scheme, port or path)')
    return null
  }
  const ok: string[] = []
  for (const o of Array.isArray(list) ? list : []) {
    let url: URL | null = null
    try {
      url = typeof o === 'string' ? new URL(o) : null
    } catch {
      url = null
    }
    // Browsers offer WebAuthn to secure contexts only: https, or http on localhost.
    const secure = url !== null && (url.protocol === 'https:' || (!production && url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname.endsWith('.localhost'))))
    if (!url || url.origin !== o || !secure) {
      fail('webauthn.origins', `"${String(o)}" is not an origin like https://app.example.com${production ? '' : ' (or http://localhost:PORT)'}`)
      continue
    }
    // The RP ID must be the origin's host or a registrable suffix of it.
    if (url.hostname !== rpId && !url.hostname.endsWith(`.${rpId}`)) {
      fail('webauthn.origins', `"${o}" is not on ${rpId} or a subdomain of it (webauthn.rpId)`)
      continue
    }
    ok.push(o)
  }
  if (!Array.isArray(list) || list.length === 0) fail('webauthn.origins', 'must list at least one origin, like https://app.example.com')
  const rpName = option.rpName ?? productName
  if (typeof rpName !== 'string' || rpName.trim() === '') fail('webauthn.rpName', 'must be a non-empty string')
  return { rpId, rpName: typeof rpName === 'string' ? rpName : productName, origins: ok }
}

const DEV_MAIL = { transport: 'log' as const, from: DEV_MAIL_FROM, productName: DEFAULT_PRODUCT_NAME, templates: templatesWith() }

function resolveMail(
  option: AuthPluginOptions['mail'],
  production: boolean,
  fail: (option: string, message: string) => void,
): Pick<AuthSettings['mail'], 'transport' | 'from' | 'productName' | 'templates'> {
  if (option === undefined) {
    // A password reset or a verification that silently goes nowhere is worse than no start.
    if (production) fail('mail', 'is required in production: { transport: "smtp://…" or a nodemailer transport, from: "…" }')
    return DEV_MAIL
  }
  if (typeof option !== 'object' || option === null) {
    fail('mail', 'must be { transport, from, productName?, templates? }')
    return DEV_MAIL
  }
  const { transport } = option
  if (transport === 'log') {
    if (production) fail('mail.transport', '"log" writes links and codes to the log and is for development only; in production give an smtp:// URL or a nodemailer transport')
  } else if (typeof transport === 'string') {
    if (!isSmtpUrl(transport)) fail('mail.transport', 'must be an smtp:// or smtps:// URL, a nodemailer transport, or "log" (development)')
  } else if (!isSendMailLike(transport)) {
    fail('mail.transport', 'must be an smtp:// or smtps:// URL, a nodemailer transport (with sendMail), or "log" (development)')
  }
  let from = DEV_MAIL_FROM
  if (option.from === undefined) {
    if (production) fail('mail.from', 'is required in production: the From address of the mails, e.g. "Example <no-reply@example.com>"')
  } else if (typeof option.from !== 'string' || !/^[^\r\n]*@[^\r\n]*$/.test(option.from)) {
    fail('mail.from', 'must be an address like no-reply@example.com or "Example <no-reply@example.com>"')
  } else from = option.from
  let productName = DEFAULT_PRODUCT_NAME
  if (option.productName !== undefined) {
    if (typeof option.productName !== 'string' || option.productName.trim() === '' || /[\r\n]/.test(option.productName)) {
      fail('mail.productName', 'must be a non-empty string on one line')
    } else productName = option.productName
  }
  const overrides: Partial<Record<MailKind, MailTemplate>> = {}
  if (option.templates !== undefined) {
    if (typeof option.templates !== 'object' || option.templates === null) fail('mail.templates', `must be an object of functions, keyed by ${MAIL_KINDS.join(', ')}`)
    else {
      for (const [kind, fn] of Object.entries(option.templates)) {
        if (!(MAIL_KINDS as readonly string[]).includes(kind)) fail(`mail.templates.${kind}`, `is not a mail; the mails are ${MAIL_KINDS.join(', ')}`)
        else if (typeof fn !== 'function') fail(`mail.templates.${kind}`, 'must be a function (context) => { subject, text, html }')
        else overrides[kind as MailKind] = fn as MailTemplate
      }
    }
  }
  return { transport, from, productName, templates: templatesWith(overrides) }
}

/**
 * The issuer identifier: an absolute URL without query or fragment (RFC 8414 §2), https in
 * production, no trailing slash after a path (its metadata URL is built by inserting the
 * well-known segment before that path).
 */
function resolveIssuer(value: unknown, mountPath: string, production: boolean, fail: (m: string) => void): string {
  const fallback = `http://localhost${mountPath}`
  const shape = `an absolute ${production ? 'https' : 'http(s)'} URL where the routes are reached, without query, fragment or trailing slash, e.g. https://api.example.com${mountPath || '/auth'}`
  if (value === undefined) {
    if (production) fail(`is required in production: ${shape}`)
    return fallback
  }
  let url: URL | null = null
  try {
    url = typeof value === 'string' ? new URL(value) : null
  } catch {
    url = null
  }
  const allowed = production ? ['https:'] : ['https:', 'http:']
  const text = value as string
  if (!url || !allowed.includes(url.protocol) || url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#') || url.username !== '' || url.password !== '' || (text.endsWith('/') && url.pathname !== '/') || /[\s]/.test(text)) {
    fail(`must be ${shape} (got ${JSON.stringify(value)})`)
    return fallback
  }
  return text.endsWith('/') ? text.slice(0, -1) : text
}

export const issuerPathOf = (issuer: string): string => {
  const path = new URL(issuer).pathname
  return path === '/' ? '' : path
}

/**
 * The mail pages left unset for flows that are on: their mails carry only a code, which a
 * mobile app can take but a web user cannot click. Named by option, for a warning at start.
 */
export function linkPagesMissing(settings: Pick<AuthSettings, 'links' | 'emailVerification'>): string[] {
  const needed: (keyof AuthSettings['links'])[] = ['resetPassword', 'confirmEmailChange', 'undoEmailChange']
  if (settings.emailVerification.enabled) needed.push('verifyEmail')
  return needed.filter((name) => settings.links[name] === null).map((name) => `links.${name}`)
}

function resolveLinks(option: AuthPluginOptions['links'], production: boolean, fail: (option: string, message: string) => void): AuthSettings['links'] {
  const links: AuthSettings['links'] = { resetPassword: null, verifyEmail: null, confirmEmailChange: null, undoEmailChange: null }
  if (option === undefined) return links
  if (typeof option !== 'object' || option === null) {
    fail('links', 'must be { resetPassword?, verifyEmail?, confirmEmailChange?, undoEmailChange? }, each a URL')
    return links
  }
  for (const [name, value] of Object.entries(option)) {
    if (!(name in links)) {
      fail(`links.${name}`, 'is not a link; the links are resetPassword, verifyEmail, confirmEmailChange, undoEmailChange')
      continue
    }
    if (value === undefined) continue
    let url: URL | null = null
    try {
      url = typeof value === 'string' ? new URL(value) : null
    } catch {
      url = null
    }
    // The token rides in the query: over plain http anyone on the path reads it.
    const allowed = production ? ['https:'] : ['https:', 'http:']
    if (!url || !allowed.includes(url.protocol) || url.hash !== '') {
      fail(`links.${name}`, `must be an absolute ${production ? 'https' : 'http(s)'} URL without a #fragment (the token is added as its query parameter "token")`)
      continue
    }
    links[name as keyof AuthSettings['links']] = value as string
  }
  return links
}

function resolveDatabase(option: DatabaseOption | undefined, fail: (option: string, message: string) => void): AuthSettings['database'] {
  const none = { url: null, pool: null, directUrl: null }
  if (option === undefined || option === null) {
    fail('database', 'is required: a postgresql:// connection string, or your pg.Pool')
    return none
  }
  if (typeof option === 'string') return isPostgresUrl(option) ? { url: option, pool: null, directUrl: null } : (fail('database', 'must be a postgresql:// connection string'), none)
  if (isPool(option)) return { url: null, pool: option, directUrl: null }
  const { url, pool, directUrl } = option
  if ((url === undefined) === (pool === undefined)) {
    fail('database', 'needs exactly one of url (a connection string) or pool (your pg.Pool)')
    return none
  }
  if (url !== undefined && !isPostgresUrl(url)) fail('database.url', 'must be a postgresql:// connection string')
  if (pool !== undefined && !isPool(pool)) fail('database.pool', 'must be a pg.Pool')
  if (directUrl !== undefined && !isPostgresUrl(directUrl)) fail('database.directUrl', 'must be a postgresql:// connection string')
  return { url: url ?? null, pool: pool ?? null, directUrl: directUrl ?? null }
}

function refreshTokenSecret(value: unknown, production: boolean, fail: (m: string) => void): Buffer | null {
  if (value === undefined) {
    fail('is required: 32 or more random bytes (a string or a Buffer)')
    return null
  }
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
    fail('must be a string or a Buffer')
    return null
  }
  if (value.length === 0) {
    fail('must not be empty')
    return null
  }
  const weak = typeof value === 'string' ? weakSecretReason(value) : value.length < 32 ? 'shorter than 32 bytes' : null
  if (weak && production) {
    fail(`is too weak: ${weak}`)
    return null
  }
  return Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8')
}

function origins(list: unknown, fail: (m: string) => void): string[] {
  if (list === undefined) return []
  if (!Array.isArray(list)) {
    fail('must be an array of origins like https://app.example.com')
    return []
  }
  const ok: string[] = []
  for (const o of list) {
    let valid = false
    try {
      const u = new URL(String(o))
      valid = typeof o === 'string' && (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === o
    } catch {
      valid = false
    }
    if (valid) ok.push(o as string)
    else fail(`"${String(o)}" is not an origin like https://app.example.com (no path, no trailing slash)`)
  }
  return ok
}

function isPostgresUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false
  try {
    return ['postgres:', 'postgresql:'].includes(new URL(value).protocol)
  } catch {
    return false
  }
}

function isRedisUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false
  try {
    return ['redis:', 'rediss:'].includes(new URL(value).protocol)
  } catch {
    return false
  }
}

// Duck-typed: the host's pg may be another copy of the package than ours.
function isPool(value: unknown): value is pg.Pool {
  const v = value as { connect?: unknown; query?: unknown; end?: unknown } | null
  return typeof v === 'object' && v !== null && typeof v.connect === 'function' && typeof v.query === 'function' && typeof v.end === 'function'
}

function getPath(obj: unknown, path: string): unknown {
  let cur = obj
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

// Keeps the settings total when a problem has already been recorded (the error is thrown).
const PLACEHOLDER_KEY: SigningKey = { kid: 'invalid', algorithm: 'HS256', signKey: '', verifyKey: '', jwk: null }
