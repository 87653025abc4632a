// The database access of one plugin instance: a pg pool (its own, or the host's), Prisma over
// it through @prisma/adapter-pg, and a count of the statements sent, which the metrics export
// and the tests use to prove which paths touch the database at all.
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient, type Prisma } from '../generated/prisma/client.js'
import { PREPARES } from './sql.js'

/** A Prisma interactive transaction: stores take one to act inside a caller's transaction. */
export type Tx = Prisma.TransactionClient

export interface OwnPoolOptions {
  url: string
  poolSize: number
  statementTimeoutMs: number
  /** longest wait for a row lock (a refresh queued behind another one of its family) */
  lockTimeoutMs: number
  /** how long to wait for a connection before giving up (answers 503, never hangs) */
  connectTimeoutMs: number
  /**
   * `url` goes through a transaction pooler (PgBouncer): send no session settings when a
   * connection opens. A pooler refuses startup parameters it does not know, or, told to
   * ignore them, drops them; and a session SET would reach whichever client the server
   * connection serves next. The timeouts then come from the role (ALTER ROLE ... SET). Nor
   * are statements prepared (sql.ts PREPARES): the next transaction may run on another
   * server connection, which never saw them.
   */
  pooled?: boolean
}

export interface Db {
  prisma: PrismaClient
  /** the pool every statement of this instance goes through (counted) */
  pool: pg.Pool
  /** statements sent since start */
  queryCount(): number
  /** closes Prisma, and the pool when it is the plugin's own (a host's pool stays open) */
  close(): Promise<void>
}

/** A pool of our own, configured for this product: timeouts per connection, errors contained. */
export function createDb(opts: OwnPoolOptions, onStatement: () => void = () => {}): Db {
  class QuietClient extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      super(config)
      // pg-pool listens for errors only while a client is idle. One checked out but between
      // statements (inside a Prisma transaction) that loses its connection, e.g. Postgres
      // restarting, would emit an unhandled 'error' and crash the process. The loss surfaces
      // anyway: its next statement fails (503), and the pool drops it on release.
      this.on('error', () => {})
    }
  }
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize,
    Client: QuietClient,
    application_name: 'fastify-auth',
    // Set per connection, so no transaction spends a round trip on them.
    ...(opts.pooled ? {} : { statement_timeout: opts.statementTimeoutMs, options: `-c lock_timeout=${opts.lockTimeoutMs}` }),
    connectionTimeoutMillis: opts.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
  })
  // A dropped idle connection must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  return dbOn(pool, () => pool.end(), onStatement, !opts.pooled)
}

/**
 * Prisma and our statements on the host's pool. The host keeps it: closing the plugin never
 * ends it. Its own settings (timeouts, size) apply to our statements.
 */
export function dbOnHostPool(pool: pg.Pool, onStatement: () => void = () => {}): Db {
  return dbOn(pool, async () => {}, onStatement, false)
}

function dbOn(pool: pg.Pool, endPool: () => Promise<void>, onStatement: () => void, prepares: boolean): Db {
  let count = 0
  const counted = countingPool(
    pool,
    () => {
      count++
      onStatement()
    },
    prepares,
  )
  const prisma = new PrismaClient({ adapter: new PrismaPg(counted) })
  return {
    prisma,
    pool: counted,
    queryCount: () => count,
    async close() {
      await prisma.$disconnect()
      await endPool()
    },
  }
}

// A view of `pool` that counts every statement sent through it or through a client checked out
// of it, without touching the pool or its clients (the host's may be shared with its own code).
// It passes for a pg.Pool of our copy of pg, which @prisma/adapter-pg checks with instanceof.
function countingPool(pool: pg.Pool, onStatement: () => void, prepares: boolean): pg.Pool {
  const countingClient = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get(target, prop, receiver) {
        if (prop === 'query') {
          return (...args: unknown[]) => {
            onStatement()
            return (target.query as (...a: unknown[]) => unknown).apply(target, args)
          }
        }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  return new Proxy(pool, {
    getPrototypeOf: () => pg.Pool.prototype,
    get(target, prop, receiver) {
      if (prop === PREPARES) return prepares
      if (prop === 'query') {
        return (...args: unknown[]) => {
          onStatement()
          return (target.query as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
      if (prop === 'connect') {
        return (callback?: (err: Error | undefined, client?: pg.PoolClient, done?: (release?: unknown) => void) => void) => {
          if (callback) return target.connect((err, client, done) => callback(err, client && countingClient(client), done))
          return target.connect().then(countingClient)
        }
      }
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
