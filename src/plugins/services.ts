// Builds the app's own services once and decorates the instance with them. Everything that
// holds a connection or a timer is closed in onClose.
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { createDb, type Db } from '../db/client.js'
import { PasswordHasher } from '../auth/password.js'
import { UserStore } from '../users/user-store.js'
import { TokenStore } from '../tokens/token-store.js'
import { SessionService } from '../tokens/session-service.js'
import { Denylist, denylistRetentionMs } from '../tokens/denylist.js'
import { Transport } from '../http/transport.js'
import { LoginAttemptStore } from '../limits/login-attempt-store.js'
import { CounterStore } from '../limits/counter-store.js'
import { AccountCeiling } from '../limits/account-ceiling.js'
import { AuditStore } from '../audit/audit-store.js'
import { AuditLog } from '../audit/audit-log.js'
import { AccountService } from '../auth/account-service.js'

export interface ServicesOptions {
  config: Config
  databaseUrl: string
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    db: Db
    users: UserStore
    passwords: PasswordHasher
    sessions: SessionService
    accounts: AccountService
    audit: AuditLog
    denylist: Denylist
    transport: Transport
    /** the stores the cleanup job prunes */
    stores: { tokens: TokenStore; attempts: LoginAttemptStore; counters: CounterStore; audit: AuditStore }
  }
}

export default fp<ServicesOptions>(
  async (fastify, { config, databaseUrl }) => {
    const db = createDb({
      url: databaseUrl,
      poolSize: config.db.poolSize,
      statementTimeoutMs: config.db.statementTimeoutMs,
      lockTimeoutMs: config.db.lockTimeoutMs,
      connectTimeoutMs: config.db.lockTimeoutMs,
    })
    const tokenStore = new TokenStore(db.prisma, config.db)
    const denylist = new Denylist(tokenStore, {
      databaseUrl,
      retainMs: denylistRetentionMs(config.jwt.accessTtlSec, config.db),
      syncIntervalMs: config.denylist.syncIntervalMs,
      log: fastify.log.child({ component: 'denylist' }),
    })
    const attemptStore = new LoginAttemptStore(db.prisma, config.db)
    const counterStore = new CounterStore(db.prisma)
    const auditStore = new AuditStore(db.prisma)
    const audit = new AuditLog(auditStore, fastify.log.child({ component: 'audit' }))
    fastify.addHook('onClose', async () => {
      await denylist.close()
      await audit.settled()
      await db.close()
    })
    await denylist.start()

    const users = new UserStore(db.prisma)
    const passwords = new PasswordHasher(config.argon2)
    const sessions = new SessionService(tokenStore, config.refresh, denylist, {
      events: audit,
      refreshLimit: { max: config.rateLimit.refreshPerSession, windowSec: config.rateLimit.windowSec },
    })
    fastify.decorate('config', config)
    fastify.decorate('db', db)
    fastify.decorate('users', users)
    fastify.decorate('passwords', passwords)
    fastify.decorate('denylist', denylist)
    fastify.decorate('sessions', sessions)
    fastify.decorate('audit', audit)
    fastify.decorate(
      'accounts',
      new AccountService({
        users,
        passwords,
        attempts: attemptStore,
        lockout: config.lockout,
        ceiling: new AccountCeiling({
          attempts: attemptStore,
          counters: counterStore,
          policy: config.loginProofOfWork,
          resetSec: config.lockout.resetSec,
          key: config.loginProofOfWork.key,
        }),
        sessions,
        events: audit,
        log: fastify.log.child({ component: 'accounts' }),
      }),
    )
    fastify.decorate('stores', { tokens: tokenStore, attempts: attemptStore, counters: counterStore, audit: auditStore })
    fastify.decorate(
      'transport',
      new Transport({ secure: config.cookies.secure, accessTtlSec: config.jwt.accessTtlSec, refreshTtlSec: config.refresh.ttlSec }),
    )
  },
  { name: 'services', dependencies: ['@fastify/cookie'] },
)
