// Every setting the service reads, parsed and checked once at start. A bad value stops
// the process with a message naming the variable; nothing is read from process.env later.
import { createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join, resolve } from 'node:path'
import { looksLikePublicKey, weakSecretReason } from './secrets.js'

export type JwtAlgorithm = 'EdDSA' | 'HS256'

export interface SigningKey {
  kid: string
  algorithm: JwtAlgorithm
  /** PEM (EdDSA) or the shared secret (HS256) */
  signKey: string
  /** PEM public key (EdDSA) or the shared secret (HS256) */
  verifyKey: string
  /** public JWK for /.well-known/jwks.json; null for HS256, whose key must stay secret */
  jwk: Record<string, unknown> | null
}

/** A retired signing key whose tokens are still accepted until they expire (key rotation). */
export interface PreviousKey {
  kid: string
  algorithm: 'EdDSA'
  /** PEM public key */
  verifyKey: string
  /** as published in /.well-known/jwks.json */
  jwk: Record<string, unknown>
}

/**
 * Who may tell us the client's address in X-Forwarded-For. false: nobody, the peer is the client.
 * A number: that many proxies in front, each appending the address it saw (the peer is the
 * nearest). A list: the proxies' addresses or CIDRs; entries are skipped from the right while
 * they are listed. Never "everyone": the leftmost entries are whatever the client wrote.
 */
export type TrustProxy = false | number | string[]

export interface Config {
  env: 'development' | 'production' | 'test'
  host: string
  port: number
  logLevel: string
  /** null: start the embedded Postgres in dataDir (in production only with EMBEDDED_POSTGRES_IN_PRODUCTION=true) */
  databaseUrl: string | null
  dataDir: string
  embeddedPgPort: number
  db: { poolSize: number; lockTimeoutMs: number; statementTimeoutMs: number }
  jwt: { key: SigningKey; previousKeys: PreviousKey[]; issuer: string; audience: string; accessTtlSec: number }
  refresh: {
    /** a token unused this long expires (idle lifetime of a session) */
    ttlSec: number
    /** a family ends this long after login whatever its use (absolute lifetime) */
    sessionMaxSec: number
    /** grace window for the parent of the live token; 0 disables */
    reuseWindowSec: number
    /** server-held key that derives a child token from its parent */
    secret: Buffer
  }
  argon2: { memoryKiB: number; timeCost: number; parallelism: number }
  cookies: { secure: boolean }
  /** origins allowed to call with credentials (CORS) and to pass the CSRF origin check */
  corsOrigins: string[]
  /** serve the demo page at / and the browser SDK at /sdk.js */
  demoPage: boolean
  denylist: { syncIntervalMs: number }
  trustProxy: TrustProxy
  rateLimit: {
    /** requests per window per client IP (IPv6 by /64); generous: offices and carriers share IPs */
    loginPerIp: number
    registerPerIp: number
    /** refreshes per window per session (token family), never per IP */
    refreshPerSession: number
    windowSec: number
  }
  /** where the per-IP counters live instead of Postgres; null: Postgres */
  redis: { url: string | null; keyPrefix: string }
  /** failure counter per account and client IP, keyed by the normalised email whether or not it exists */
  lockout: {
    /** failures allowed before the first lock */
    freeFailures: number
    /** first lock; each further failure doubles it */
    baseSec: number
    maxSec: number
    /** a counter with no failure for this long starts again from zero */
    resetSec: number
  }
  /** per-account ceiling on failed logins, across all client addresses (src/limits/proof-of-work.ts) */
  loginProofOfWork: {
    afterFailures: number
    baseBits: number
    maxBits: number
    challengeTtlSec: number
    /** HMAC key of the challenges, derived from REFRESH_TOKEN_SECRET so every instance has it */
    key: Buffer
  }
  cleanup: {
    /** 0: no periodic job (the CLI still works) */
    intervalSec: number
    /** how long revoked or expired rows are kept beyond the access-token lifetime */
    retentionSec: number
    batchSize: number
  }
  audit: { retentionDays: number }
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
  }
}

type Env = Record<string, string | undefined>

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = []
  const r = new Reader(env, problems)

  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development')
  const production = nodeEnv === 'production'
  const dataDir = resolve(r.str('DATA_DIR', '.data'))
  const algorithm = r.oneOf('JWT_ALGORITHM', ['EdDSA', 'HS256'] as const, 'EdDSA')
  const accessTtlSec = r.int('ACCESS_TOKEN_TTL', 900, 30, 86_400)

  const devSecrets = production ? null : () => loadDevSecrets(dataDir)
  const key = signingKey(r, algorithm, production, problems, devSecrets)
  const refreshSecret = refreshTokenSecret(r, production, problems, devSecrets)

  const config: Config = {
    env: nodeEnv,
    host: r.str('HOST', '127.0.0.1'),
    port: r.int('PORT', 3000, 0, 65_535),
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    databaseUrl: r.optional('DATABASE_URL'),
    dataDir,
    embeddedPgPort: r.int('EMBEDDED_PG_PORT', 54329, 1024, 65_535),
    db: {
      poolSize: r.int('DB_POOL_SIZE', 10, 1, 500),
      lockTimeoutMs: r.int('DB_LOCK_TIMEOUT_MS', 2000, 10, 60_000),
      statementTimeoutMs: r.int('DB_STATEMENT_TIMEOUT_MS', 5000, 10, 600_000),
    },
    jwt: {
      key: key ?? placeholderKey(),
      previousKeys: previousKeys(r, algorithm, key?.kid ?? null, problems),
      issuer: r.str('JWT_ISSUER', 'fastify-auth'),
      audience: r.str('JWT_AUDIENCE', 'fastify-auth-api'),
      accessTtlSec,
    },
    refresh: {
      ttlSec: r.int('REFRESH_TOKEN_TTL', 30 * 86_400, 60, 400 * 86_400),
      sessionMaxSec: r.int('SESSION_MAX_AGE', 90 * 86_400, 60, 5 * 365 * 86_400),
      reuseWindowSec: r.int('REFRESH_REUSE_WINDOW', 30, 0, 300),
      secret: refreshSecret ?? Buffer.alloc(32),
    },
    argon2: {
      // OWASP's minimum for argon2id is m=19 MiB, t=2, p=1; lower is refused in production.
      memoryKiB: r.int('ARGON2_MEMORY_KIB', 19_456, production ? 19_456 : 8, 4_194_304),
      timeCost: r.int('ARGON2_TIME_COST', 2, production ? 2 : 1, 100),
      parallelism: r.int('ARGON2_PARALLELISM', 1, 1, 16),
    },
    cookies: { secure: r.bool('COOKIE_SECURE', production) },
    corsOrigins: r.origins('CORS_ORIGINS'),
    demoPage: r.bool('DEMO_PAGE', !production),
    denylist: { syncIntervalMs: r.int('DENYLIST_SYNC_INTERVAL_MS', 500, 50, 60_000) },
    trustProxy: trustProxy(r.optional('TRUST_PROXY'), problems),
    rateLimit: {
      loginPerIp: r.int('RATE_LIMIT_LOGIN_PER_IP', 100, 1, 1_000_000),
      registerPerIp: r.int('RATE_LIMIT_REGISTER_PER_IP', 30, 1, 1_000_000),
      refreshPerSession: r.int('RATE_LIMIT_REFRESH_PER_SESSION', 60, 1, 1_000_000),
      windowSec: r.int('RATE_LIMIT_WINDOW_SEC', 60, 1, 86_400),
    },
    redis: { url: redisUrl(r, problems), keyPrefix: r.str('REDIS_KEY_PREFIX', 'fastify-auth:') },
    lockout: {
      freeFailures: r.int('LOGIN_LOCK_AFTER_FAILURES', 5, 1, 1000),
      baseSec: r.int('LOGIN_LOCK_BASE_SEC', 1, 1, 86_400),
      maxSec: r.int('LOGIN_LOCK_MAX_SEC', 900, 1, 86_400),
      resetSec: r.int('LOGIN_FAILURE_RESET_SEC', 3600, 1, 7 * 86_400),
    },
    loginProofOfWork: {
      afterFailures: r.int('LOGIN_POW_AFTER_FAILURES', 10, 1, 1_000_000),
      baseBits: r.int('LOGIN_POW_BASE_BITS', 13, 1, 24),
      // 2^16 SHA-256 on average: about half a second to a second of WebCrypto (measured at
      // 60-170k hashes/s in Node's, batched as the SDK does, on a loaded 2-core machine).
      maxBits: r.int('LOGIN_POW_MAX_BITS', 16, 1, 24),
      challengeTtlSec: r.int('LOGIN_POW_CHALLENGE_TTL_SEC', 120, 10, 3600),
      // Its own key, not the refresh secret itself: a challenge MAC must never be usable as
      // (or reveal anything about) a derived refresh token.
      key: Buffer.from(hkdfSync('sha256', refreshSecret ?? Buffer.alloc(32), Buffer.alloc(0), 'login-proof-of-work-v1', 32)),
    },
    cleanup: {
      intervalSec: r.int('CLEANUP_INTERVAL_SEC', 3600, 0, 7 * 86_400),
      // At least a minute: the denylist looks back the access-token lifetime plus 30 s.
      retentionSec: r.int('CLEANUP_RETENTION_SEC', 7 * 86_400, 60, 400 * 86_400),
      batchSize: r.int('CLEANUP_BATCH_SIZE', 1000, 1, 100_000),
    },
    audit: { retentionDays: r.int('AUDIT_RETENTION_DAYS', 90, 1, 10 * 365) },
  }
  // The embedded server is a development convenience: one machine, its data in a local folder,
  // no backups or failover. Production gets it only when the operator says so in as many words.
  const embeddedInProduction = r.bool('EMBEDDED_POSTGRES_IN_PRODUCTION', false)
  if (production && config.databaseUrl === null && !embeddedInProduction) {
    problems.push(
      'DATABASE_URL is required in production (postgresql://user:password@host:5432/database); ' +
        'to run the embedded PostgreSQL in DATA_DIR anyway, set EMBEDDED_POSTGRES_IN_PRODUCTION=true',
    )
  }
  if (config.refresh.ttlSec > config.refresh.sessionMaxSec) {
    problems.push('REFRESH_TOKEN_TTL must not exceed SESSION_MAX_AGE')
  }
  if (config.lockout.baseSec > config.lockout.maxSec) {
    problems.push('LOGIN_LOCK_BASE_SEC must not exceed LOGIN_LOCK_MAX_SEC')
  }
  // Otherwise a counter would be forgotten while its lock runs out, and an attacker would get
  // LOGIN_LOCK_AFTER_FAILURES free guesses after every lock.
  if (config.lockout.resetSec <= config.lockout.maxSec) {
    problems.push('LOGIN_FAILURE_RESET_SEC must be longer than LOGIN_LOCK_MAX_SEC')
  }
  if (config.loginProofOfWork.baseBits > config.loginProofOfWork.maxBits) {
    problems.push('LOGIN_POW_BASE_BITS must not exceed LOGIN_POW_MAX_BITS')
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
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

function signingKey(
  r: Reader,
  algorithm: JwtAlgorithm,
  production: boolean,
  problems: string[],
  devSecrets: (() => DevSecrets) | null,
): SigningKey | null {
  if (algorithm === 'HS256') {
    const secret = r.optional('JWT_SECRET')
    if (secret === null) {
      if (production || !devSecrets) {
        problems.push('JWT_SECRET is required with JWT_ALGORITHM=HS256 in production')
        return null
      }
      return hsKey(r.str('JWT_KEY_ID', 'dev-hs256'), devSecrets().hs256Secret)
    }
    // With HS256 any string becomes an HMAC key; a public key here would let anyone who
    // can read it mint tokens (the algorithm-confusion class of bug).
    if (looksLikePublicKey(secret)) {
      problems.push('JWT_SECRET looks like a public key; HS256 needs a random shared secret')
      return null
    }
    const weak = weakSecretReason(secret)
    if (weak && production) {
      problems.push(`JWT_SECRET is too weak: ${weak}`)
      return null
    }
    return hsKey(r.str('JWT_KEY_ID', 'hs256-1'), secret)
  }

  const pem = r.optional('JWT_PRIVATE_KEY')
  if (pem === null) {
    if (production || !devSecrets) {
      problems.push('JWT_PRIVATE_KEY (an Ed25519 private key in PEM) is required in production')
      return null
    }
    const dev = devSecrets()
    return edKey(dev.kid, createPrivateKey(dev.ed25519PrivatePem))
  }
  let priv: KeyObject
  try {
    priv = createPrivateKey(pem.replace(/\\n/g, '\n'))
  } catch {
    problems.push('JWT_PRIVATE_KEY is not a PEM private key')
    return null
  }
  if (priv.asymmetricKeyType !== 'ed25519') {
    problems.push(`JWT_PRIVATE_KEY must be an Ed25519 key for EdDSA (got ${priv.asymmetricKeyType})`)
    return null
  }
  return edKey(r.str('JWT_KEY_ID', 'ed25519-1'), priv)
}

/**
 * JWT_PREVIOUS_JWKS: the public keys of signing keys this deployment has retired, as a JWKS
 * (what /.well-known/jwks.json published while each was current). Tokens they signed verify
 * until they expire, and verifiers elsewhere keep finding them in our JWKS; after one
 * access-token lifetime they can go. Public keys only: a private part here is refused.
 */
function previousKeys(r: Reader, algorithm: JwtAlgorithm, currentKid: string | null, problems: string[]): PreviousKey[] {
  const raw = r.optional('JWT_PREVIOUS_JWKS')
  if (raw === null) return []
  const fail = (why: string): PreviousKey[] => {
    problems.push(`JWT_PREVIOUS_JWKS: ${why}`)
    return []
  }
  if (algorithm !== 'EdDSA') return fail('lists Ed25519 public keys, so it applies with JWT_ALGORITHM=EdDSA only')
  let doc: unknown
  try {
    doc = JSON.parse(raw)
  } catch {
    return fail('is not JSON; expected a JWKS, {"keys":[…]}')
  }
  const keys = (doc as { keys?: unknown })?.keys
  if (!Array.isArray(keys)) return fail('expected a JWKS, {"keys":[…]}')
  const out: PreviousKey[] = []
  for (const [i, entry] of keys.entries()) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return fail(`key ${i} is not a JWK object`)
    const k = entry as Record<string, unknown>
    if ('d' in k) return fail(`key ${i} holds a private key ("d"); give only public keys, as /.well-known/jwks.json publishes them`)
    if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string') return fail(`key ${i} is not an Ed25519 public key (kty OKP, crv Ed25519, x)`)
    if (k.alg !== undefined && k.alg !== 'EdDSA') return fail(`key ${i} is for ${String(k.alg)}, not EdDSA`)
    if (typeof k.kid !== 'string' || k.kid === '') return fail(`key ${i} has no kid`)
    if (k.kid === currentKid) return fail(`key ${i} has the current key's kid (${k.kid}); each key needs its own`)
    if (out.some((o) => o.kid === k.kid)) return fail(`kid ${k.kid} appears twice`)
    let pub: KeyObject
    try {
      pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.x }, format: 'jwk' })
    } catch {
      return fail(`key ${i} (${k.kid}) is not a valid Ed25519 key`)
    }
    out.push({
      kid: k.kid,
      algorithm: 'EdDSA',
      verifyKey: pub.export({ type: 'spki', format: 'pem' }).toString(),
      jwk: { kty: 'OKP', crv: 'Ed25519', x: k.x, kid: k.kid, alg: 'EdDSA', use: 'sig' },
    })
  }
  return out
}

function edKey(kid: string, priv: KeyObject): SigningKey {
  const pub = createPublicKey(priv)
  return {
    kid,
    algorithm: 'EdDSA',
    signKey: priv.export({ type: 'pkcs8', format: 'pem' }).toString(),
    verifyKey: pub.export({ type: 'spki', format: 'pem' }).toString(),
    jwk: { ...pub.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' },
  }
}

function hsKey(kid: string, secret: string): SigningKey {
  return { kid, algorithm: 'HS256', signKey: secret, verifyKey: secret, jwk: null }
}

function refreshTokenSecret(
  r: Reader,
  production: boolean,
  problems: string[],
  devSecrets: (() => DevSecrets) | null,
): Buffer | null {
  const value = r.optional('REFRESH_TOKEN_SECRET')
  if (value === null) {
    if (production || !devSecrets) {
      problems.push('REFRESH_TOKEN_SECRET is required in production (32+ random bytes)')
      return null
    }
    return Buffer.from(devSecrets().refreshSecret, 'base64url')
  }
  const weak = weakSecretReason(value)
  if (weak && production) {
    problems.push(`REFRESH_TOKEN_SECRET is too weak: ${weak}`)
    return null
  }
  return Buffer.from(value, 'utf8')
}

function redisUrl(r: Reader, problems: string[]): string | null {
  const raw = r.optional('REDIS_URL')
  if (raw === null) return null
  let ok = false
  try {
    ok = ['redis:', 'rediss:'].includes(new URL(raw).protocol)
  } catch {
    ok = false
  }
  if (!ok) problems.push('REDIS_URL must be a redis:// or rediss:// URL')
  return ok ? raw : null
}

// Keeps the object shape total when a problem has already been recorded.
function placeholderKey(): SigningKey {
  return hsKey('invalid', '')
}

interface DevSecrets {
  kid: string
  ed25519PrivatePem: string
  hs256Secret: string
  refreshSecret: string
}

// Outside production a missing key is generated once and kept in the (git-ignored) data
// folder, so tokens survive a restart and nobody has to create keys to try the service.
export function loadDevSecrets(dataDir: string): DevSecrets {
  const file = join(dataDir, 'dev-secrets.json')
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets
  const { privateKey } = generateKeyPairSync('ed25519')
  const secrets: DevSecrets = {
    kid: `dev-${randomBytes(4).toString('hex')}`,
    ed25519PrivatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    hs256Secret: randomBytes(32).toString('base64url'),
    refreshSecret: randomBytes(32).toString('base64url'),
  }
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 })
  return secrets
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
