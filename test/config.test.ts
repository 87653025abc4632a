// Unit tests for configuration loading (src/config.ts) and the secret checks (src/secrets.ts).
// No server, no database: every case calls loadConfig with an explicit environment and a
// throwaway DATA_DIR, so nothing is read from process.env and nothing lands in the repo.
import { generateKeyPairSync, createPublicKey, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, type Config } from '../src/server/config.js'
import { looksLikePublicKey, weakSecretReason } from '../src/secrets.js'
import { linkPagesMissing } from '../src/options.js'

type Env = Record<string, string>

let dataDir: string
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'auth-config-test-'))
})
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true })
})

const devSecretsFile = () => join(dataDir, 'dev-secrets.json')

const ed25519 = generateKeyPairSync('ed25519')
const ED25519_PRIVATE_PEM = ed25519.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const ED25519_PUBLIC_PEM = ed25519.publicKey.export({ type: 'spki', format: 'pem' }).toString()
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const RSA_PRIVATE_PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const RSA_PKCS1_PRIVATE_PEM = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
const EC_PRIVATE_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const ED448_PRIVATE_PEM = generateKeyPairSync('ed448').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

/** 64 hex characters: random, long, and never a placeholder word */
const strongSecret = () => randomBytes(32).toString('hex')

/** a production environment that loads; each test breaks one thing */
function productionEnv(overrides: Env = {}): Env {
  return {
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    DATABASE_URL: 'postgresql://auth@db.internal:5432/auth',
    JWT_PRIVATE_KEY: ED25519_PRIVATE_PEM,
    REFRESH_TOKEN_SECRET: strongSecret(),
    MFA_ENCRYPTION_KEY: strongSecret(),
    SMTP_URL: 'smtps://mailer:pw@smtp.internal:465',
    MAIL_FROM: 'Example <no-reply@example.com>',
    ISSUER: 'https://api.example.com/auth',
    ...overrides,
  }
}

function without(env: Env, ...names: string[]): Env {
  const copy = { ...env }
  for (const n of names) delete copy[n]
  return copy
}

/** loadConfig must throw a ConfigError; returns its problems */
function problemsOf(env: Env): string[] {
  let caught: unknown
  try {
    loadConfig(env)
  } catch (err) {
    caught = err
  }
  expect(caught, 'loadConfig should have refused this environment').toBeInstanceOf(ConfigError)
  return (caught as ConfigError).problems
}

function expectRefused(env: Env, variable: string, reason?: RegExp) {
  const problems = problemsOf(env)
  const mine = problems.filter((p) => p.includes(variable))
  expect(mine, `no problem names ${variable}: ${JSON.stringify(problems)}`).not.toHaveLength(0)
  if (reason) expect(mine.join('\n')).toMatch(reason)
}

// Public-key encodings an operator might paste as an HS256 secret.
const publicJwk = ed25519.publicKey.export({ format: 'jwk' })
const spkiDer = ed25519.publicKey.export({ type: 'spki', format: 'der' })
const sshEd25519 = `ssh-ed25519 ${Buffer.concat([
  sshString(Buffer.from('ssh-ed25519')),
  sshString(Buffer.from(publicJwk.x!, 'base64url')),
]).toString('base64')} ops@example.com`
const PUBLIC_KEY_SECRETS: Array<[string, string]> = [
  ['a PEM public key', ED25519_PUBLIC_PEM],
  ['a PEM public key with a leading newline', `\n${ED25519_PUBLIC_PEM}`],
  ['a PEM public key with leading spaces', `   ${ED25519_PUBLIC_PEM}`],
  ['a PEM public key with leading junk', `key=${ED25519_PUBLIC_PEM}`],
  ['a PEM public key without its trailing newline', ED25519_PUBLIC_PEM.trimEnd()],
  ['a PEM public key with escaped \\n line breaks', ED25519_PUBLIC_PEM.replace(/\n/g, '\\n')],
  ['an RSA PEM public key', rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
  ['an RSA PKCS#1 PEM public key', rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()],
  ['a public JWK as JSON', JSON.stringify(publicJwk)],
  ['a public JWK as JSON with kid, alg and use', JSON.stringify({ ...publicJwk, kid: 'k1', alg: 'EdDSA', use: 'sig' })],
  ['a pretty-printed JWK with leading whitespace', `  ${JSON.stringify(publicJwk, null, 2)}`],
  ['a JWKS document', JSON.stringify({ keys: [{ ...publicJwk, kid: 'k1', alg: 'EdDSA', use: 'sig' }] })],
  ['a base64 DER SPKI', spkiDer.toString('base64')],
  ['a base64url DER SPKI', spkiDer.toString('base64url')],
  ['an RSA base64 DER SPKI', rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')],
  ['a PEM body without its BEGIN/END lines', ED25519_PUBLIC_PEM.split('\n').filter((l) => l && !l.startsWith('-----')).join('\n')],
  [
    'a multi-line RSA PEM body without its BEGIN/END lines',
    rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString().split('\n').filter((l) => l && !l.startsWith('-----')).join('\n'),
  ],
  ['an ssh-ed25519 line', sshEd25519],
  ['an ssh-ed25519 line with leading whitespace', `\t${sshEd25519}`],
  ['an ssh-rsa line', `ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC${'x'.repeat(300)} ops@example.com`],
]

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(b.length)
  return Buffer.concat([len, b])
}

describe('defaults', () => {
  let config: Config
  beforeEach(() => {
    config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir })
  })

  it('listens on 127.0.0.1:3000', () => {
    expect(config.host).toBe('127.0.0.1')
    expect(config.port).toBe(3000)
  })

  it('access tokens live 900 s, refresh tokens 30 days', () => {
    expect(config.jwt.accessTtlSec).toBe(900)
    expect(config.refresh.ttlSec).toBe(30 * 86_400)
  })

  it('argon2id uses the OWASP minimum m=19456 KiB, t=2, p=1', () => {
    expect(config.argon2).toEqual({ memoryKiB: 19_456, timeCost: 2, parallelism: 1, concurrency: 0 })
  })

  it('signs with EdDSA and publishes the public JWK', () => {
    expect(config.jwt.key.algorithm).toBe('EdDSA')
    expect(createPublicKey(config.jwt.key.verifyKey).asymmetricKeyType).toBe('ed25519')
    expect(config.jwt.key.jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: config.jwt.key.kid })
    expect(config.jwt.key.jwk).not.toHaveProperty('d')
  })

  it('an unset NODE_ENV means development, with non-secure cookies', () => {
    const dev = loadConfig({ DATA_DIR: dataDir })
    expect(dev.env).toBe('development')
    expect(dev.cookies.secure).toBe(false)
    expect(dev.databaseUrl, 'zero-config: the embedded database, no opt-in needed').toBeNull()
  })

  it('request logging is on outside production and off in it unless LOG_REQUESTS says so', () => {
    expect(config.logRequests).toBe(true)
    expect(loadConfig(productionEnv()).logRequests).toBe(false)
    expect(loadConfig(productionEnv({ LOG_REQUESTS: 'true' })).logRequests).toBe(true)
    expect(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_REQUESTS: 'false' }).logRequests).toBe(false)
  })

  it('remembers up to 10000 verified access tokens; ACCESS_TOKEN_CACHE_SIZE=0 turns that off', () => {
    expect(config.jwt.verifiedCacheSize).toBe(10_000)
    expect(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, ACCESS_TOKEN_CACHE_SIZE: '0' }).jwt.verifiedCacheSize).toBe(0)
  })

  it('an empty or blank variable counts as unset', () => {
    const c = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, PORT: '', HOST: '   ', ACCESS_TOKEN_TTL: ' ' })
    expect(c.port).toBe(3000)
    expect(c.host).toBe('127.0.0.1')
    expect(c.jwt.accessTtlSec).toBe(900)
  })

  it('reads explicit values', () => {
    const c = loadConfig({
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      HOST: '0.0.0.0',
      PORT: '8080',
      ACCESS_TOKEN_TTL: '300',
      REFRESH_TOKEN_TTL: '3600',
    })
    expect([c.host, c.port, c.jwt.accessTtlSec, c.refresh.ttlSec]).toEqual(['0.0.0.0', 8080, 300, 3600])
  })
})

describe('invalid values', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '3000.5'],
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['ACCESS_TOKEN_TTL', '15m'],
    ['ACCESS_TOKEN_TTL', '0'],
    ['ACCESS_TOKEN_TTL', '29'],
    ['ACCESS_TOKEN_TTL', '86401'],
    ['REFRESH_TOKEN_TTL', '30d'],
    ['REFRESH_TOKEN_TTL', 'NaN'],
    ['REFRESH_TOKEN_TTL', 'Infinity'],
    ['DB_POOL_SIZE', '0'],
    ['ARGON2_MEMORY_KIB', 'lots'],
    ['ARGON2_TIME_COST', '1.5'],
    ['ARGON2_PARALLELISM', '0'],
    ['EMBEDDED_PG_PORT', '80'],
  ])('%s=%s is a ConfigError naming the variable', (name, value) => {
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, [name]: value }, name, /integer/)
  })

  it('the error message names the variable and the bad value', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, PORT: 'http' })).toThrow(/PORT.*"http"/)
  })

  it.each([
    ['NODE_ENV', 'prod'],
    ['JWT_ALGORITHM', 'none'],
    ['JWT_ALGORITHM', 'RS256'],
    ['JWT_ALGORITHM', 'hs256'],
    ['LOG_LEVEL', 'verbose'],
    ['COOKIE_SECURE', 'maybe'],
    ['TRUST_PROXY', 'sometimes'],
  ])('%s=%s is a ConfigError naming the variable', (name, value) => {
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, [name]: value }, name)
  })

  it('REFRESH_TOKEN_TTL longer than SESSION_MAX_AGE is refused', () => {
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, REFRESH_TOKEN_TTL: '7200', SESSION_MAX_AGE: '3600' }, 'REFRESH_TOKEN_TTL')
  })

  it('reports every problem at once', () => {
    const problems = problemsOf({ NODE_ENV: 'test', DATA_DIR: dataDir, PORT: 'x', ACCESS_TOKEN_TTL: 'y', LOG_LEVEL: 'z' })
    expect(problems.join('\n')).toMatch(/PORT/)
    expect(problems.join('\n')).toMatch(/ACCESS_TOKEN_TTL/)
    expect(problems.join('\n')).toMatch(/LOG_LEVEL/)
  })
})

describe('TRUST_PROXY', () => {
  const load = (value?: string) => loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, ...(value === undefined ? {} : { TRUST_PROXY: value }) })
  const refusal = (value: string) => problemsOf({ NODE_ENV: 'test', DATA_DIR: dataDir, TRUST_PROXY: value }).filter((p) => p.includes('TRUST_PROXY'))

  it.each([[undefined], [''], ['false'], ['FALSE'], ['0'], ['no']])('%s trusts no proxy', (value) => {
    expect(load(value).trustProxy).toBe(false)
  })

  it.each([['true'], ['TRUE'], ['True'], [' true '], ['yes']])('%s (trust every hop) is refused, saying what to set instead', (value) => {
    const [problem, ...rest] = refusal(value)
    expect(rest).toEqual([])
    expect(problem).toMatch(/X-Forwarded-For/)
    // Both alternatives, each with an example.
    expect(problem).toMatch(/number of proxies.*TRUST_PROXY=1\b/)
    expect(problem).toMatch(/addresses or CIDRs.*TRUST_PROXY=10\.0\.0\.0\/8/)
  })

  it.each([
    ['1', 1],
    ['2', 2],
    [' 3 ', 3],
    ['10', 10],
  ])('%s is a hop count', (value, hops) => {
    expect(load(value).trustProxy).toBe(hops)
  })

  it.each([
    ['10.0.0.1', ['10.0.0.1']],
    ['10.0.0.0/8', ['10.0.0.0/8']],
    ['10.0.0.0/8, 192.168.1.1 ,2001:db8::/32,::1', ['10.0.0.0/8', '192.168.1.1', '2001:db8::/32', '::1']],
    ['173.245.48.0/20,103.21.244.0/22,2400:cb00::/32,10.0.0.0/8,', ['173.245.48.0/20', '103.21.244.0/22', '2400:cb00::/32', '10.0.0.0/8']],
    ['::ffff:10.0.0.0/104', ['::ffff:10.0.0.0/104']],
  ])('%s is a list of proxies', (value, list) => {
    expect(load(value).trustProxy).toEqual(list)
  })

  it.each([
    ['10.0.0.0/33', '10.0.0.0/33'],
    ['2001:db8::/129', '2001:db8::/129'],
    ['10.0.0', '10.0.0'],
    ['10.0.0.0/', '10.0.0.0/'],
    ['10.0.0.0/8/8', '10.0.0.0/8/8'],
    ['10.0.0.0/255.0.0.0', '10.0.0.0/255.0.0.0'],
    ['lb.internal', 'lb.internal'],
    ['10.0.0.0/8, load-balancer', 'load-balancer'],
    ['1.5', '1.5'],
    ['-1', '-1'],
    ['10.0.0.1:8080', '10.0.0.1:8080'],
  ])('%s is refused, naming the bad entry', (value, entry) => {
    const problems = refusal(value)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(`"${entry}"`)
  })

  it.each([['0.0.0.0/0'], ['::/0'], ['10.0.0.0/8,0.0.0.0/0']])('%s is refused: a range of every address is true by another name', (value) => {
    expect(refusal(value).join('\n')).toMatch(/every address/)
  })

  it('a hop count above 10 is refused: past the real chain it trusts what the client wrote, like true', () => {
    expect(refusal('11').join('\n')).toMatch(/1 to 10/)
  })

  it('every accepted setting is one Fastify accepts, and none of them is true', async () => {
    const { default: Fastify } = await import('fastify')
    const { trustProxyOption } = await import('../src/server/app.js')
    for (const value of ['', '1', '2', '10.0.0.1', '10.0.0.0/8, 192.168.1.1 ,2001:db8::/32,::1', '::ffff:10.0.0.0/104']) {
      const option = trustProxyOption(load(value).trustProxy)
      expect(option).not.toBe(true)
      await Fastify({ trustProxy: option }).close()
    }
  })
})

describe('limits, cleanup and audit', () => {
  it('defaults: generous per-IP limits, per-session refresh limit, a temporary failed-login lock', () => {
    const c = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir })
    expect(c.rateLimit).toEqual({ loginPerIp: 100, registerPerIp: 30, refreshPerSession: 60, windowSec: 60 })
    expect(c.lockout).toEqual({ freeFailures: 5, baseSec: 1, maxSec: 900, resetSec: 3600 })
    expect(c.loginProofOfWork).toEqual({ afterFailures: 10, baseBits: 13, maxBits: 16, challengeTtlSec: 120, key: expect.any(Buffer) })
    expect(c.cleanup).toEqual({ intervalSec: 3600, retentionSec: 7 * 86_400, batchSize: 1000 })
    expect(c.audit).toEqual({ retentionDays: 90 })
  })

  it('reads explicit values; CLEANUP_INTERVAL_SEC=0 turns the periodic job off', () => {
    const c = loadConfig({
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      RATE_LIMIT_LOGIN_PER_IP: '500',
      RATE_LIMIT_WINDOW_SEC: '10',
      LOGIN_LOCK_AFTER_FAILURES: '10',
      LOGIN_LOCK_MAX_SEC: '60',
      LOGIN_FAILURE_RESET_SEC: '120',
      CLEANUP_INTERVAL_SEC: '0',
      AUDIT_RETENTION_DAYS: '30',
    })
    expect([c.rateLimit.loginPerIp, c.rateLimit.windowSec, c.lockout.freeFailures, c.lockout.maxSec, c.lockout.resetSec]).toEqual([500, 10, 10, 60, 120])
    expect([c.cleanup.intervalSec, c.audit.retentionDays]).toEqual([0, 30])
  })

  it.each([
    ['RATE_LIMIT_LOGIN_PER_IP', '0'],
    ['RATE_LIMIT_REGISTER_PER_IP', 'many'],
    ['RATE_LIMIT_REFRESH_PER_SESSION', '0'],
    ['RATE_LIMIT_WINDOW_SEC', '0'],
    ['LOGIN_LOCK_AFTER_FAILURES', '0'],
    ['LOGIN_LOCK_BASE_SEC', '0'],
    ['CLEANUP_INTERVAL_SEC', '-1'],
    ['CLEANUP_RETENTION_SEC', '59'],
    ['CLEANUP_BATCH_SIZE', '0'],
    ['AUDIT_RETENTION_DAYS', '0'],
  ])('%s=%s is a ConfigError naming the variable', (name, value) => {
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, [name]: value }, name, /integer/)
  })

  it('per-IP counters in Postgres unless REDIS_URL names a Redis', () => {
    expect(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir }).redis).toEqual({ url: null, keyPrefix: 'fastify-auth:' })
    const c = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, REDIS_URL: 'rediss://:pw@cache.internal:6380/2', REDIS_KEY_PREFIX: 'auth-eu:' })
    expect(c.redis).toEqual({ url: 'rediss://:pw@cache.internal:6380/2', keyPrefix: 'auth-eu:' })
  })

  it.each(['http://cache.internal:6379', 'cache.internal:6379', 'not a url'])('REDIS_URL=%s is refused without echoing it', (value) => {
    try {
      loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, REDIS_URL: value })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as Error).message).toContain('REDIS_URL')
      expect((err as Error).message).not.toContain(value) // it may hold a password
    }
  })

  it('the proof-of-work key is derived from REFRESH_TOKEN_SECRET: the same on every instance, and not the secret itself', () => {
    const env = { NODE_ENV: 'test', DATA_DIR: dataDir, REFRESH_TOKEN_SECRET: 'one shared secret of the deployment' }
    const a = loadConfig(env).loginProofOfWork.key
    expect(loadConfig(env).loginProofOfWork.key.equals(a)).toBe(true)
    expect(loadConfig({ ...env, REFRESH_TOKEN_SECRET: 'another secret of another deployment' }).loginProofOfWork.key.equals(a)).toBe(false)
    expect(a.length).toBe(32)
    expect(a.equals(Buffer.from(env.REFRESH_TOKEN_SECRET))).toBe(false)
  })

  it('LOGIN_POW_BASE_BITS above LOGIN_POW_MAX_BITS is refused; bits stay within what a browser can solve', () => {
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, LOGIN_POW_BASE_BITS: '17', LOGIN_POW_MAX_BITS: '16' }, 'LOGIN_POW_BASE_BITS')
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, LOGIN_POW_MAX_BITS: '25' }, 'LOGIN_POW_MAX_BITS', /integer/)
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, LOGIN_POW_AFTER_FAILURES: '0' }, 'LOGIN_POW_AFTER_FAILURES', /integer/)
  })

  it('a lock longer than the time failures are remembered is refused (it would hand out free guesses)', () => {
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, LOGIN_LOCK_MAX_SEC: '3600', LOGIN_FAILURE_RESET_SEC: '3600' }, 'LOGIN_FAILURE_RESET_SEC')
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, LOGIN_LOCK_BASE_SEC: '100', LOGIN_LOCK_MAX_SEC: '10' }, 'LOGIN_LOCK_BASE_SEC')
  })
})

describe('production', () => {
  it('loads with good secrets, secure cookies and OWASP argon2 defaults', () => {
    const env = productionEnv()
    const c = loadConfig(env)
    expect(c.env).toBe('production')
    expect(c.cookies.secure).toBe(true)
    expect(c.argon2).toEqual({ memoryKiB: 19_456, timeCost: 2, parallelism: 1, concurrency: 0 })
    expect(c.jwt.key.algorithm).toBe('EdDSA')
    expect(c.jwt.key.kid).toBe('ed25519-1')
    expect(c.jwt.key.verifyKey).toBe(ED25519_PUBLIC_PEM)
    expect(c.refresh.secret.equals(Buffer.from(env.REFRESH_TOKEN_SECRET!, 'utf8'))).toBe(true)
    expect(existsSync(devSecretsFile()), 'production must not write dev secrets').toBe(false)
  })

  it('loads with HS256 and a strong JWT_SECRET, and publishes no key', () => {
    const secret = strongSecret()
    const c = loadConfig(productionEnv({ JWT_ALGORITHM: 'HS256', JWT_SECRET: secret, JWT_KEY_ID: 'hs-2025' }))
    expect(c.jwt.key).toEqual({ kid: 'hs-2025', algorithm: 'HS256', signKey: secret, verifyKey: secret, jwk: null })
  })

  it('loads with argon2 above the minimums', () => {
    const c = loadConfig(productionEnv({ ARGON2_MEMORY_KIB: '65536', ARGON2_TIME_COST: '3', ARGON2_PARALLELISM: '4' }))
    expect(c.argon2).toEqual({ memoryKiB: 65_536, timeCost: 3, parallelism: 4, concurrency: 0 })
  })

  it('refuses to start without DATABASE_URL, and says how to opt in to the embedded database', () => {
    const problems = problemsOf(without(productionEnv(), 'DATABASE_URL'))
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(/DATABASE_URL/)
    expect(problems[0]).toMatch(/EMBEDDED_POSTGRES_IN_PRODUCTION=true/)
    expectRefused(productionEnv({ DATABASE_URL: '   ' }), 'DATABASE_URL')
  })

  it('starts on the embedded database only when the operator opts in explicitly', () => {
    const c = loadConfig(without(productionEnv({ EMBEDDED_POSTGRES_IN_PRODUCTION: 'true' }), 'DATABASE_URL'))
    expect(c.databaseUrl).toBeNull()
    expectRefused(without(productionEnv({ EMBEDDED_POSTGRES_IN_PRODUCTION: 'false' }), 'DATABASE_URL'), 'DATABASE_URL')
    expectRefused(without(productionEnv({ EMBEDDED_POSTGRES_IN_PRODUCTION: 'sure' }), 'DATABASE_URL'), 'EMBEDDED_POSTGRES_IN_PRODUCTION', /true or false/)
  })

  it('with DATABASE_URL set, uses it whatever the opt-in says', () => {
    expect(loadConfig(productionEnv()).databaseUrl).toBe('postgresql://auth@db.internal:5432/auth')
    expect(loadConfig(productionEnv({ EMBEDDED_POSTGRES_IN_PRODUCTION: 'true' })).databaseUrl).toBe('postgresql://auth@db.internal:5432/auth')
  })

  it('refuses to start without JWT_PRIVATE_KEY, and generates nothing', () => {
    expectRefused(without(productionEnv(), 'JWT_PRIVATE_KEY'), 'JWT_PRIVATE_KEY')
    expect(existsSync(devSecretsFile())).toBe(false)
  })

  it('refuses to start with a blank JWT_PRIVATE_KEY', () => {
    expectRefused(productionEnv({ JWT_PRIVATE_KEY: '  ' }), 'JWT_PRIVATE_KEY')
  })

  it('refuses to start without REFRESH_TOKEN_SECRET, and generates nothing', () => {
    expectRefused(without(productionEnv(), 'REFRESH_TOKEN_SECRET'), 'REFRESH_TOKEN_SECRET')
    expect(existsSync(devSecretsFile())).toBe(false)
  })

  it.each([
    ['changeme', 'changeme'],
    ['a short secret', 'Zq8#xL2!'],
    ['31 random-looking bytes', 'abcdefghijklmnopqrstuvwxyzABCDE'],
    ['a low-entropy 40-character secret', 'a'.repeat(40)],
    ['a long secret of few distinct characters', 'abcabcabc1'.repeat(5)],
    ['a long secret containing "changeme"', `changeme-${strongSecret()}`],
    ['a long secret containing "secret"', `my-refresh-secret-${strongSecret()}`],
    ['a long secret containing "password"', `Password${strongSecret()}`],
  ])('refuses a weak REFRESH_TOKEN_SECRET: %s', (_name, value) => {
    expectRefused(productionEnv({ REFRESH_TOKEN_SECRET: value }), 'REFRESH_TOKEN_SECRET', /weak/)
  })

  it('refuses HS256 without JWT_SECRET, and generates nothing', () => {
    expectRefused(productionEnv({ JWT_ALGORITHM: 'HS256' }), 'JWT_SECRET')
    expect(existsSync(devSecretsFile())).toBe(false)
  })

  it.each([
    ['secret', 'secret'],
    ['a 20-character secret', 'k3Jd9!xQ2mZp7@Lw4rTy'],
    ['a low-entropy 64-character secret', 'ab'.repeat(32)],
    ['a long secret containing "jwt"', `jwt-${strongSecret()}`],
    ['a long secret containing "default"', `${strongSecret()}DEFAULT`],
  ])('refuses HS256 with a weak JWT_SECRET: %s', (_name, value) => {
    expectRefused(productionEnv({ JWT_ALGORITHM: 'HS256', JWT_SECRET: value }), 'JWT_SECRET', /weak/)
  })

  it.each([
    ['ARGON2_MEMORY_KIB', '19455'],
    ['ARGON2_MEMORY_KIB', '1024'],
    ['ARGON2_TIME_COST', '1'],
    ['ARGON2_PARALLELISM', '0'],
  ])('refuses argon2 below the OWASP minimum: %s=%s', (name, value) => {
    expectRefused(productionEnv({ [name]: value }), name)
  })

  it('the same cheap argon2 settings load outside production (tests use them)', () => {
    const c = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' })
    expect(c.argon2).toEqual({ memoryKiB: 1024, timeCost: 1, parallelism: 1, concurrency: 0 })
  })
})

describe('mail', () => {
  it('production refuses a missing SMTP_URL and MAIL_FROM, and a URL that is not SMTP', () => {
    expectRefused(without(productionEnv(), 'SMTP_URL'), 'SMTP_URL', /required in production/)
    expectRefused(without(productionEnv(), 'MAIL_FROM'), 'MAIL_FROM', /required in production/)
    expectRefused(productionEnv({ SMTP_URL: 'https://mail.example.com' }), 'SMTP_URL', /smtp:\/\/ or smtps:\/\//)
    const c = loadConfig(productionEnv())
    expect(c.mail).toMatchObject({ transport: 'smtps://mailer:pw@smtp.internal:465', from: 'Example <no-reply@example.com>', attempts: 4, baseDelayMs: 2000 })
    // No demo page in production, so no page for the links unless they are set: codes only.
    expect(c.links).toEqual({ resetPassword: null, verifyEmail: null, confirmEmailChange: null, undoEmailChange: null })
    // ...which the plugin warns about at start, naming each page left unset.
    expect(linkPagesMissing(c)).toEqual(['links.resetPassword', 'links.confirmEmailChange', 'links.undoEmailChange', 'links.verifyEmail'])
    expect(linkPagesMissing(loadConfig(productionEnv({ EMAIL_VERIFICATION: 'false', RESET_PASSWORD_URL: 'https://app.example.com/reset' })))).toEqual([
      'links.confirmEmailChange',
      'links.undoEmailChange',
    ])
    expect(loadConfig(productionEnv({ RESET_PASSWORD_URL: 'https://app.example.com/reset' })).links.resetPassword).toBe('https://app.example.com/reset')
    expectRefused(productionEnv({ RESET_PASSWORD_URL: 'http://app.example.com/reset' }), 'RESET_PASSWORD_URL', /https/)
  })

  it('outside production: mail goes to the log, and the links open the demo page at http://localhost:PORT', () => {
    const c = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, PORT: '4000' })
    expect(c.mail.transport).toBe('log')
    expect(c.links).toEqual({
      resetPassword: 'http://localhost:4000/reset-password',
      verifyEmail: 'http://localhost:4000/verify-email',
      confirmEmailChange: 'http://localhost:4000/confirm-email-change',
      undoEmailChange: 'http://localhost:4000/undo-email-change',
    })
    expect(loadConfig({ DATA_DIR: dataDir, PUBLIC_URL: 'https://auth.example.com/' }).links.verifyEmail).toBe('https://auth.example.com/verify-email')
    expect(loadConfig({ DATA_DIR: dataDir, DEMO_PAGE: 'false' }).links.verifyEmail).toBeNull()
  })

  it('verification: on by default, REQUIRE_VERIFIED_EMAIL off; requiring it without verification is refused', () => {
    const c = loadConfig({ DATA_DIR: dataDir })
    expect(c.emailVerification).toEqual({ enabled: true, required: false, ttlSec: 86_400 })
    expect(c.passwordReset).toEqual({ logsIn: false, ttlSec: 1800 })
    expectRefused({ DATA_DIR: dataDir, EMAIL_VERIFICATION: 'false', REQUIRE_VERIFIED_EMAIL: 'true' }, 'REQUIRE_VERIFIED_EMAIL', /EMAIL_VERIFICATION/)
  })
})

describe('JWT_PRIVATE_KEY', () => {
  it.each([
    ['an RSA key (PKCS#8)', RSA_PRIVATE_PEM, /got rsa\)/],
    ['an RSA key (PKCS#1)', RSA_PKCS1_PRIVATE_PEM, /got rsa\)/],
    ['a P-256 key', EC_PRIVATE_PEM, /got ec\)/],
    ['an Ed448 key', ED448_PRIVATE_PEM, /got ed448\)/],
    ['a public key', ED25519_PUBLIC_PEM, /PEM private key/],
    ['not a key at all', 'hello', /PEM private key/],
  ])('%s is refused, in production and outside it', (_name, pem, reason) => {
    for (const env of [productionEnv({ JWT_PRIVATE_KEY: pem }), { NODE_ENV: 'test', DATA_DIR: dataDir, JWT_PRIVATE_KEY: pem }]) {
      expectRefused(env, 'JWT_PRIVATE_KEY', reason)
    }
  })

  it('an Ed25519 PEM with escaped \\n line breaks (as in a .env file) loads as the same key', () => {
    const c = loadConfig(productionEnv({ JWT_PRIVATE_KEY: ED25519_PRIVATE_PEM.replace(/\n/g, '\\n'), JWT_KEY_ID: 'k-2025' }))
    expect(c.jwt.key.verifyKey).toBe(ED25519_PUBLIC_PEM)
    expect(c.jwt.key.kid).toBe('k-2025')
  })
})

describe('JWT_PREVIOUS_JWKS (key rotation)', () => {
  const retired = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as Record<string, unknown>
  const jwks = (...keys: unknown[]) => JSON.stringify({ keys })

  it('loads a JWKS of retired Ed25519 keys, as /.well-known/jwks.json published them', () => {
    const c = loadConfig(productionEnv({ JWT_KEY_ID: 'k-2026-11', JWT_PREVIOUS_JWKS: jwks({ ...retired, kid: 'k-2026-10', alg: 'EdDSA', use: 'sig' }) }))
    expect(c.jwt.previousKeys).toHaveLength(1)
    expect(c.jwt.previousKeys[0]).toMatchObject({ kid: 'k-2026-10', algorithm: 'EdDSA', jwk: { kty: 'OKP', crv: 'Ed25519', x: retired.x, kid: 'k-2026-10', alg: 'EdDSA', use: 'sig' } })
    expect(c.jwt.previousKeys[0]!.verifyKey).toMatch(/^-----BEGIN PUBLIC KEY-----/)
    expect(loadConfig(productionEnv()).jwt.previousKeys).toEqual([])
  })

  const privateJwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as Record<string, unknown>
  const rsaPublic = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as Record<string, unknown>
  it.each([
    ['not JSON', 'not json', /not JSON/],
    ['a single JWK rather than a set', JSON.stringify({ ...retired, kid: 'a' }), /expected a JWKS/],
    ['a private key', jwks({ ...privateJwk, kid: 'a' }), /private key \("d"\)/],
    ['an RSA key', jwks({ ...rsaPublic, kid: 'a' }), /not an Ed25519 public key/],
    ['a key for another algorithm', jwks({ ...retired, kid: 'a', alg: 'HS256' }), /for HS256, not EdDSA/],
    ['a key without kid', jwks({ ...retired }), /has no kid/],
    ['the current key\'s kid', jwks({ ...retired, kid: 'k-now' }), /current key's kid/],
    ['a kid twice', jwks({ ...retired, kid: 'a' }, { ...retired, kid: 'a' }), /appears twice/],
    ['a broken x', jwks({ ...retired, kid: 'a', x: 'AAAA' }), /not a valid Ed25519 key/],
    ['an entry that is not an object', jwks(5), /not a JWK object/],
  ])('%s is refused', (_name, value, reason) => {
    expectRefused(productionEnv({ JWT_KEY_ID: 'k-now', JWT_PREVIOUS_JWKS: value }), 'JWT_PREVIOUS_JWKS', reason)
  })

  it('is refused with HS256, whose keys are never published', () => {
    expectRefused(productionEnv({ JWT_ALGORITHM: 'HS256', JWT_SECRET: strongSecret(), JWT_PREVIOUS_JWKS: jwks({ ...retired, kid: 'a' }) }), 'JWT_PREVIOUS_JWKS', /EdDSA only/)
  })
})

describe('a public key as the HS256 JWT_SECRET is refused in any environment', () => {
  describe.each(['production', 'development', 'test'])('NODE_ENV=%s', (nodeEnv) => {
    it.each(PUBLIC_KEY_SECRETS)('%s', (_name, value) => {
      const env =
        nodeEnv === 'production'
          ? productionEnv({ JWT_ALGORITHM: 'HS256', JWT_SECRET: value })
          : { NODE_ENV: nodeEnv, DATA_DIR: dataDir, JWT_ALGORITHM: 'HS256', JWT_SECRET: value }
      expectRefused(env, 'JWT_SECRET', /public key/)
    })
  })
})

describe('development and test secrets', () => {
  it.each(['development', 'test'])('NODE_ENV=%s without keys generates them once into DATA_DIR/dev-secrets.json', (nodeEnv) => {
    const env = { NODE_ENV: nodeEnv, DATA_DIR: dataDir }
    expect(existsSync(devSecretsFile())).toBe(false)
    const first = loadConfig(env)
    expect(existsSync(devSecretsFile())).toBe(true)
    const saved = readFileSync(devSecretsFile(), 'utf8')

    const second = loadConfig(env)
    expect(readFileSync(devSecretsFile(), 'utf8')).toBe(saved)
    expect(second.jwt.key.kid).toBe(first.jwt.key.kid)
    expect(second.jwt.key.kid).toMatch(/^dev-[0-9a-f]{8}$/)
    expect(second.jwt.key.signKey).toBe(first.jwt.key.signKey)
    expect(second.jwt.key.verifyKey).toBe(first.jwt.key.verifyKey)
    expect(createPublicKey(second.jwt.key.verifyKey).asymmetricKeyType).toBe('ed25519')
    expect(second.refresh.secret.equals(first.refresh.secret)).toBe(true)
    expect(second.refresh.secret.length).toBe(32)
    expect(second.refresh.secret.equals(Buffer.alloc(32)), 'not the placeholder').toBe(false)
  })

  it('the file is readable by its owner only', () => {
    loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir })
    expect(statSync(devSecretsFile()).mode & 0o777).toBe(0o600)
  })

  it('a DATA_DIR that does not exist yet is created', () => {
    const nested = join(dataDir, 'a', 'b')
    loadConfig({ NODE_ENV: 'development', DATA_DIR: nested })
    expect(existsSync(join(nested, 'dev-secrets.json'))).toBe(true)
  })

  it('a new DATA_DIR gets different secrets', () => {
    const other = mkdtempSync(join(tmpdir(), 'auth-config-test-'))
    try {
      const a = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir })
      const b = loadConfig({ NODE_ENV: 'development', DATA_DIR: other })
      expect(b.jwt.key.verifyKey).not.toBe(a.jwt.key.verifyKey)
      expect(b.refresh.secret.equals(a.refresh.secret)).toBe(false)
    } finally {
      rmSync(other, { recursive: true, force: true })
    }
  })

  it('HS256 without JWT_SECRET uses the generated secret, the same on every start', () => {
    const env = { NODE_ENV: 'development', DATA_DIR: dataDir, JWT_ALGORITHM: 'HS256' }
    const first = loadConfig(env)
    const second = loadConfig(env)
    const saved = JSON.parse(readFileSync(devSecretsFile(), 'utf8')) as { hs256Secret: string }
    expect(first.jwt.key).toMatchObject({ algorithm: 'HS256', kid: 'dev-hs256', signKey: saved.hs256Secret, jwk: null })
    expect(second.jwt.key.signKey).toBe(first.jwt.key.signKey)
    expect(weakSecretReason(saved.hs256Secret)).toBeNull()
  })

  it('configured keys are used as given and nothing is generated', () => {
    const refresh = strongSecret()
    const c = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, JWT_PRIVATE_KEY: ED25519_PRIVATE_PEM, REFRESH_TOKEN_SECRET: refresh })
    expect(c.jwt.key.verifyKey).toBe(ED25519_PUBLIC_PEM)
    expect(c.refresh.secret.toString('utf8')).toBe(refresh)
    expect(existsSync(devSecretsFile())).toBe(false)
  })

})

describe('second factors and passkeys', () => {
  it('production refuses a missing or weak MFA_ENCRYPTION_KEY', () => {
    expectRefused(without(productionEnv(), 'MFA_ENCRYPTION_KEY'), 'MFA_ENCRYPTION_KEY', /required in production/)
    expectRefused(productionEnv({ MFA_ENCRYPTION_KEY: 'changeme' }), 'MFA_ENCRYPTION_KEY', /weak/)
    expect(existsSync(devSecretsFile())).toBe(false)
  })

  it('outside production the key is generated with the other development secrets, and added to an older file', () => {
    const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir })
    const saved = JSON.parse(readFileSync(devSecretsFile(), 'utf8'))
    expect(saved.mfaEncryptionKey).toMatch(/^[\w-]{43}$/)
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir }).mfa.encryptionKey.equals(first.mfa.encryptionKey)).toBe(true)
    // A file from before second factors: the key is added, everything else stays.
    const { mfaEncryptionKey: _gone, ...older } = saved
    writeFileSync(devSecretsFile(), JSON.stringify(older))
    const upgraded = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir })
    const now = JSON.parse(readFileSync(devSecretsFile(), 'utf8'))
    expect(now).toMatchObject(older)
    expect(now.mfaEncryptionKey).toMatch(/^[\w-]{43}$/)
    expect(upgraded.jwt.key.kid).toBe(first.jwt.key.kid)
  })

  it('passkeys: localhost:PORT in development, PUBLIC_URL when https, WEBAUTHN_* when set; off in production without them', () => {
    const dev = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, PORT: '4100' })
    expect(dev.webauthn).toEqual({ rpId: 'localhost', rpName: 'fastify-auth-service', origins: ['http://localhost:4100'] })
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, PUBLIC_URL: 'http://127.0.0.1:3000' }).webauthn).toBeNull()
    expect(loadConfig(productionEnv()).webauthn).toBeNull()
    expect(loadConfig(productionEnv({ PUBLIC_URL: 'https://auth.example.com' })).webauthn).toMatchObject({ rpId: 'auth.example.com', origins: ['https://auth.example.com'] })
    const explicit = loadConfig(productionEnv({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://app.example.com, https://example.com', WEBAUTHN_RP_NAME: 'Example' }))
    expect(explicit.webauthn).toEqual({ rpId: 'example.com', rpName: 'Example', origins: ['https://app.example.com', 'https://example.com'] })
    expectRefused(productionEnv({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://evil.example' }), 'WEBAUTHN_ORIGINS', /not on example.com/)
    expectRefused(productionEnv({ WEBAUTHN_RP_ID: 'Example.com:443' }), 'WEBAUTHN_RP_ID')
  })

  it('the step-up age and the challenge lifetime are bounded like every number', () => {
    expect(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir }).mfa).toMatchObject({ stepUpMaxAgeSec: 600, challengeTtlSec: 300, issuer: 'fastify-auth-service' })
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, MFA_STEP_UP_MAX_AGE_SEC: '5' }, 'MFA_STEP_UP_MAX_AGE_SEC')
    expectRefused({ NODE_ENV: 'test', DATA_DIR: dataDir, MFA_ISSUER: 'a:b' }, 'MFA_ISSUER')
  })
})

describe('secrets.ts', () => {
  describe('weakSecretReason', () => {
    it('accepts 32+ random bytes', () => {
      expect(weakSecretReason(strongSecret())).toBeNull()
      expect(weakSecretReason(randomBytes(32).toString('hex'))).toBeNull()
    })

    it.each([
      ['empty', '', /shorter/],
      ['31 bytes', 'x1y2z3w4v5u6t7s8r9q0p1o2n3m4l5k', /shorter/],
      ['40 times the same character', 'a'.repeat(40), /distinct/],
      ['11 distinct characters', '0123456789a'.repeat(4), /distinct/],
      ['changeme', 'changeme', /shorter/],
      ['a placeholder sentence', 'my-jwt-secret-changeme-0123456789abcdef', /placeholder/],
      ['a placeholder word beside a short random part', `CHANGEME-${randomBytes(12).toString('hex')}`, /placeholder/],
      ['placeholder words around a pattern', 'test-secret-password-default-0123456789abcdefABCDEF', /placeholder/],
    ])('refuses %s', (_name, value, reason) => {
      expect(weakSecretReason(value)).toMatch(reason)
    })

    it('accepts a random secret that happens to spell a placeholder word', () => {
      // base64url of random bytes with "jwt" or "test" spelled inside: about 1 secret in 800
      // looks like this, and the bench's random secrets were once refused for it
      const random = randomBytes(32).toString('base64url').replace(/[-_]/g, 'x')
      expect(weakSecretReason(`${random.slice(0, 20)}QjwtZ${random.slice(20)}`)).toBeNull()
      expect(weakSecretReason(`${random.slice(0, 9)}7TeStk${random.slice(9)}`)).toBeNull()
    })

    it('counts bytes, not characters', () => {
      // 16 two-byte characters are 32 bytes
      expect(weakSecretReason('äöüßéèêëáàâãåçñõ')).toBeNull()
    })
  })

  describe('looksLikePublicKey', () => {
    it.each(PUBLIC_KEY_SECRETS)('true for %s', (_name, value) => {
      expect(looksLikePublicKey(value)).toBe(true)
    })

    it('true for a certificate', () => {
      expect(looksLikePublicKey('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')).toBe(true)
    })

    it.each([
      ['a random hex secret', strongSecret()],
      ['a random base64url secret', randomBytes(48).toString('base64url')],
      ['a random base64 secret', randomBytes(48).toString('base64')],
      ['a passphrase', 'correct horse battery staple and then some more words'],
      ['JSON that is not a JWK', '{"hello":"world","n":1234567890123456789}'],
      ['broken JSON', '{"kty": '],
    ])('false for %s', (_name, value) => {
      expect(looksLikePublicKey(value)).toBe(false)
    })
  })
})
