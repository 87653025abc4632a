// Builds the app's own services once and decorates the instance with them. Everything that
// holds a connection or a timer is closed in onClose.
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { createDb, type Db } from '../db/client.js'
import { PasswordHasher } from '../auth/password.js'
import { UserStore } from '../users/user-store.js'
import { TokenStore } from '../tokens/token-store.js'
import { SessionService } from '../tokens/session-service.js'
import { Denylist } from '../tokens/denylist.js'
import { Transport } from '../http/transport.js'

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
    denylist: Denylist
    transport: Transport
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
      retainMs: config.jwt.accessTtlSec * 1000,
      syncIntervalMs: config.denylist.syncIntervalMs,
      log: fastify.log.child({ component: 'denylist' }),
    })
    fastify.addHook('onClose', async () => {
      await denylist.close()
      await db.close()
    })
    await denylist.start()

    fastify.decorate('config', config)
    fastify.decorate('db', db)
    fastify.decorate('users', new UserStore(db.prisma))
    fastify.decorate('passwords', new PasswordHasher(config.argon2))
    fastify.decorate('denylist', denylist)
    fastify.decorate('sessions', new SessionService(tokenStore, config.refresh, denylist))
    fastify.decorate(
      'transport',
      new Transport({ secure: config.cookies.secure, accessTtlSec: config.jwt.accessTtlSec, refreshTtlSec: config.refresh.ttlSec }),
    )
  },
  { name: 'services', dependencies: ['@fastify/cookie'] },
)
