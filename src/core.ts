// The composition root: every store and service of one plugin instance, built once from the
// resolved settings. The plugin builds one (src/plugin.ts), and so do the operator commands
// (src/cli), which serve no requests and so never start the denylist. Data flows route ->
// service -> store; nothing here is reached back into from below.
import { createRequire } from 'node:module'
import type pg from 'pg'
import type { Registry } from 'prom-client'
import type { AuthSettings } from './options.js'
import { createDb, dbOnHostPool, type Db } from './db/client.js'
import { PasswordHasher } from './auth/password.js'
import { AccountService } from './auth/account-service.js'
import { UserStore } from './users/user-store.js'
import { TokenStore } from './tokens/token-store.js'
import { SessionService } from './tokens/session-service.js'
import { Denylist, denylistRetentionMs, type ListenConnection } from './tokens/denylist.js'
import { LoginAttemptStore } from './limits/login-attempt-store.js'
import { CounterStore } from './limits/counter-store.js'
import { AccountCeiling } from './limits/account-ceiling.js'
import { AuditStore } from './audit/audit-store.js'
import { AuditLog } from './audit/audit-log.js'
import { Transport } from './http/transport.js'
import { createMetrics, type AuthMetrics } from './metrics.js'
import type { Redis } from 'ioredis'
import { failingAs503, postgresCounters, redisCounters, type CounterBackend } from './limits/rate-limit-store.js'
import { AddressLimit } from './limits/address-limit.js'
import { EmailTokenStore } from './users/email-token-store.js'
import { MailTokens } from './auth/mail-tokens.js'
import { Background } from './auth/background.js'
import { RecoveryService } from './auth/recovery-service.js'
import { EmailService } from './auth/email-service.js'
import { Mailer } from './mail/mailer.js'
import { customTransport, logTransport, smtpTransport, type MailTransport } from './mail/transport.js'
import { FactorStore, hasSecondFactor } from './mfa/factor-store.js'
import { ChallengeStore } from './mfa/challenge-store.js'
import { PasskeyStore } from './mfa/passkey-store.js'
import { PasskeyService } from './mfa/passkey-service.js'
import { MfaService } from './mfa/mfa-service.js'

/** What the core logs through: Fastify's logger, or any pino-like one. */
export interface CoreLogger {
  child(bindings: Record<string, unknown>): CoreLogger
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

export interface Core {
  settings: AuthSettings
  db: Db
  users: UserStore
  passwords: PasswordHasher
  tokens: TokenStore
  attempts: LoginAttemptStore
  counters: CounterStore
  auditStore: AuditStore
  audit: AuditLog
  denylist: Denylist
  sessions: SessionService
  accounts: AccountService
  emailTokens: EmailTokenStore
  recovery: RecoveryService
  email: EmailService
  /** second factors: the authenticator app, recovery codes, login's second step, step-up */
  mfa: MfaService
  passkeys: PasskeyService
  challenges: ChallengeStore
  mailer: Mailer
  /** mail-flow work left running after its answer (tests and close() wait for it) */
  background: Background
  transport: Transport
  metrics: AuthMetrics
  /** ms since the epoch: TOTP steps, auth_time, how old an authentication is */
  now: () => number
  /** where the shared counters count (per-IP, per-address, spent proofs): Postgres, or Redis */
  counterBackend: CounterBackend
  log: CoreLogger
  /** listens for revocations and loads the recent ones: before serving protected routes */
  start(): Promise<void>
  /** stops listening, writes pending audit rows, closes what the core opened */
  close(): Promise<void>
}

export interface CoreOptions {
  log: CoreLogger
  /** the registry the metrics go to (the host's, to export them with its own) */
  registry?: Registry
  /** operator commands: a small pool */
  poolSize?: number
  /** another hasher than argon2 at the settings' cost (tests hold one at a chosen point) */
  passwords?: PasswordHasher
  /** how long close() gives queued mail to go out (default 2 s) */
  mailCloseTimeoutMs?: number
  /** ms since the epoch (tests hold the clock where TOTP steps and step-up ages matter) */
  now?: () => number
}

export function createCore(settings: AuthSettings, opts: CoreOptions): Core {
  const { log } = opts
  const now = opts.now ?? (() => Date.now())
  const metrics = createMetrics(opts.registry)
  const { database } = settings
  const db = database.pool
    ? dbOnHostPool(database.pool, metrics.statement)
    : createDb(
        {
          url: database.url!,
          poolSize: opts.poolSize ?? settings.db.poolSize,
          statementTimeoutMs: settings.db.statementTimeoutMs,
          lockTimeoutMs: settings.db.lockTimeoutMs,
          connectTimeoutMs: settings.db.lockTimeoutMs,
          pooled: database.directUrl !== null,
        },
        metrics.statement,
      )

  const tokens = new TokenStore(db.prisma, db.pool, settings.db)
  const denylist = new Denylist(tokens, {
    connectListener: () => listenConnection(database),
    retainMs: denylistRetentionMs(settings.jwt.accessTtlSec, settings.db),
    syncIntervalMs: settings.denylist.syncIntervalMs,
    log: log.child({ component: 'denylist' }),
  })
  metrics.watchDenylist(() => denylist.size)
  const attempts = new LoginAttemptStore(db.pool, settings.db, settings.lockout, log.child({ component: 'rate-limit' }))
  const counters = new CounterStore(db.pool)
  const redis = settings.redis.url ? connectRedis(settings.redis.url, log.child({ component: 'rate-limit' })) : null
  const counterBackend = failingAs503(
    redis ? redisCounters(redis, settings.redis.keyPrefix) : postgresCounters(counters),
    log.child({ component: 'rate-limit' }),
  )
  const auditStore = new AuditStore(db.prisma, db.pool)
  const audit = new AuditLog(auditStore, log.child({ component: 'audit' }))
  const users = new UserStore(db.prisma)
  const passwords = opts.passwords ?? new PasswordHasher(settings.argon2)
  const sessions = new SessionService(tokens, settings.refresh, denylist, {
    events: audit,
    metrics,
    refreshLimit: { max: settings.rateLimit.refreshPerSession, windowSec: settings.rateLimit.windowSec },
  })
  const factors = new FactorStore(db.prisma)
  const challenges = new ChallengeStore(db.prisma, db.pool)
  // Built below: the second step of a login needs the account service, and the other way round.
  let mfa!: MfaService
  const ceiling = new AccountCeiling({
    counters: counterBackend,
    policy: settings.loginProofOfWork,
    key: settings.loginProofOfWork.key,
  })
  const accounts = new AccountService({
    users,
    passwords,
    attempts,
    ceiling,
    sessions,
    events: audit,
    metrics,
    log: log.child({ component: 'accounts' }),
    requireVerifiedEmail: settings.emailVerification.required,
    challengeSecondFactor: (user, f, resetAttempts, claims) => mfa.challengeLogin(user, f, resetAttempts, claims),
    now,
  })
  const mailLog = log.child({ component: 'mail' })
  const mailer = new Mailer({
    transport: mailTransport(settings.mail.transport, settings.mail.timeoutMs, mailLog),
    from: settings.mail.from,
    productName: settings.mail.productName,
    templates: settings.mail.templates,
    log: mailLog,
    attempts: settings.mail.attempts,
    baseDelayMs: settings.mail.baseDelayMs,
  })
  const emailTokens = new EmailTokenStore(db.prisma, db.pool)
  const mailTokens = new MailTokens(emailTokens, settings)
  const background = new Background(mailLog)
  const addressLimit = new AddressLimit(counterBackend, settings.mailLimits.perAddress, settings.mailLimits.addressWindowSec)
  // What both mail flows (password recovery; verification and change of address) work with.
  const mailFlow = { settings, users, sessions, tokens: mailTokens, mailer, addressLimit, events: audit, background }
  const recovery = new RecoveryService({
    ...mailFlow,
    passwords,
    hasSecondFactor: async (userId) => hasSecondFactor(await factors.factorsOf(userId)),
    now,
  })
  const email = new EmailService({ ...mailFlow, accounts, recovery, transaction: (fn) => tokens.transaction(fn) })
  const passkeys = new PasskeyService({ settings, passkeys: new PasskeyStore(db.prisma), challenges, users, mailer, events: audit, now })
  mfa = new MfaService({
    settings,
    factors,
    challenges,
    passkeys,
    users,
    accounts,
    attempts,
    ceiling,
    sessions,
    mailer,
    events: audit,
    transaction: (fn) => tokens.transaction(fn),
    now,
  })
  const transport = new Transport({
    secure: settings.cookies.secure,
    refreshPath: settings.cookies.refreshPath,
    accessTtlSec: settings.jwt.accessTtlSec,
    refreshTtlSec: settings.refresh.ttlSec,
  })

  let started = false
  return {
    settings,
    db,
    users,
    passwords,
    tokens,
    attempts,
    counters,
    auditStore,
    audit,
    denylist,
    sessions,
    accounts,
    emailTokens,
    recovery,
    email,
    mfa,
    passkeys,
    challenges,
    mailer,
    background,
    transport,
    metrics,
    now,
    counterBackend,
    log,
    async start() {
      started = true
      await denylist.start()
      if (database.directUrl !== null) await warnWithoutTimeouts(db, log)
    },
    async close() {
      if (started) await denylist.close()
      // Mail flows still working after their answer finish first: they may queue mail.
      await background.settled()
      await mailer.close(opts.mailCloseTimeoutMs ?? 2000)
      await audit.settled()
      redis?.disconnect()
      await db.close()
    },
  }
}

function mailTransport(option: AuthSettings['mail']['transport'], timeoutMs: number, log: CoreLogger): MailTransport {
  if (option === 'log') return logTransport(log)
  if (typeof option === 'string') return smtpTransport(option, timeoutMs)
  return customTransport(option)
}

function connectRedis(url: string, log: CoreLogger): Redis {
  // Loaded only when Redis is configured: it is about 11 MB resident that a service counting
  // in Postgres has no use for.
  const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis')
  const redis = new Redis(url, {
    // As @fastify/rate-limit recommends: ioredis' defaults (10 s to connect, 20 retries per
    // command) would hold a request for seconds when Redis is gone. With these it fails
    // within about a second and answers 503.
    connectTimeout: 500,
    maxRetriesPerRequest: 1,
    // A Redis that accepts the connection but does not answer fails the same way.
    commandTimeout: 1000,
  })
  // Without a listener ioredis prints every failed reconnection; one line per outage is
  // enough, and each refused request logs its own warning.
  let down = false
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err }, 'redis unreachable; login and register answer 503 until it returns')
    down = true
  })
  redis.on('ready', () => {
    if (down) log.info({}, 'redis reachable again')
    down = false
  })
  return redis
}

// Through a transaction pooler the pool sets no timeouts of its own (db/client.ts): without
// the role's, a statement stuck behind a lock would wait for ever instead of answering 503.
async function warnWithoutTimeouts(db: Db, log: CoreLogger): Promise<void> {
  const { rows } = await db.pool.query<{ lock: string; statement: string }>(
    `SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement`,
  )
  const off = Object.entries(rows[0]!).filter(([, v]) => v === '0').map(([k]) => `${k}_timeout`)
  if (off.length > 0) {
    log.warn(
      { off },
      `through the pooler, ${off.join(' and ')} is off: set it on the role (ALTER ROLE <role> SET lock_timeout = '2s'; ALTER ROLE <role> SET statement_timeout = '5s'), or statements stuck behind a lock wait instead of answering 503`,
    )
  }
}

// LISTEN needs a session of its own that stays open: a direct connection (directUrl, or the
// plugin's own connection string), or else one connection held out of the host's pool.
async function listenConnection(database: AuthSettings['database']): Promise<ListenConnection> {
  const url = database.directUrl ?? database.url
  if (url !== null) {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: url, application_name: 'fastify-auth-listener' })
    await client.connect()
    return { client, close: () => client.end() }
  }
  const client = await (database.pool as pg.Pool).connect()
  // Destroyed, not returned to the pool, when done: it is subscribed to our channel.
  return { client, close: async () => client.release(true) }
}
