// The services of the app, built as the services plugin builds them, for tests that drive
// them directly (exact interleavings that HTTP cannot pin down).
import type { Config } from '../../src/config.js'
import { createDb } from '../../src/db/client.js'
import { PasswordHasher } from '../../src/auth/password.js'
import { UserStore } from '../../src/users/user-store.js'
import { TokenStore } from '../../src/tokens/token-store.js'
import { SessionService } from '../../src/tokens/session-service.js'
import { LoginAttemptStore } from '../../src/limits/login-attempt-store.js'
import { AccountService } from '../../src/auth/account-service.js'
import { AccountCeiling } from '../../src/limits/account-ceiling.js'
import { CounterStore } from '../../src/limits/counter-store.js'

const quiet = { info() {}, warn() {}, error() {} }
const events = { record() {}, async recordNow() {} }

export async function buildServices(config: Config, url: string, opts: { passwords?: PasswordHasher } = {}) {
  const db = createDb({ url, poolSize: 4, statementTimeoutMs: config.db.statementTimeoutMs, lockTimeoutMs: config.db.lockTimeoutMs, connectTimeoutMs: config.db.lockTimeoutMs })
  const users = new UserStore(db.prisma)
  const passwords = opts.passwords ?? new PasswordHasher(config.argon2)
  const tokens = new TokenStore(db.prisma, config.db)
  const sessions = new SessionService(tokens, config.refresh, { add() {} }, {
    events,
    refreshLimit: { max: config.rateLimit.refreshPerSession, windowSec: config.rateLimit.windowSec },
  })
  const attempts = new LoginAttemptStore(db.prisma, config.db)
  const accounts = new AccountService({
    users,
    passwords,
    attempts,
    lockout: config.lockout,
    ceiling: new AccountCeiling({
      attempts,
      counters: new CounterStore(db.prisma),
      policy: config.loginProofOfWork,
      resetSec: config.lockout.resetSec,
      key: config.loginProofOfWork.key,
    }),
    sessions,
    events,
    log: quiet,
  })
  return { db, users, sessions, accounts, close: () => db.close() }
}

export type Services = Awaited<ReturnType<typeof buildServices>>
