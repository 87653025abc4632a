// One pg pool per process, shared by Prisma (through @prisma/adapter-pg) and by the few
// places that need plain SQL. Every statement goes through CountingClient, so tests and
// benchmarks can prove which paths touch the database at all.
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient, type Prisma } from '../generated/prisma/client.js'

/** A Prisma interactive transaction: stores take one to act inside a caller's transaction. */
export type Tx = Prisma.TransactionClient

export interface DbOptions {
  url: string
  poolSize: number
  statementTimeoutMs: number
  /** longest wait for a row lock (a refresh queued behind another one of its family) */
  lockTimeoutMs: number
  /** how long to wait for a connection before giving up (answers 503, never hangs) */
  connectTimeoutMs: number
}

export interface Db {
  prisma: PrismaClient
  pool: pg.Pool
  /** statements sent by this process since start */
  queryCount(): number
  close(): Promise<void>
}

export function createDb(opts: DbOptions): Db {
  let count = 0
  class CountingClient extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      super(config)
      // pg-pool listens for errors only while a client is idle. One checked out but between
      // statements (inside a Prisma transaction) that loses its connection, e.g. Postgres
      // restarting, would emit an unhandled 'error' and crash the process. The loss surfaces
      // anyway: its next statement fails (503), and the pool drops it on release.
      this.on('error', () => {})
    }

    // pg's overloads are not worth restating; counting is all this adds.
    override query(...args: unknown[]): never {
      count++
      return (super.query as (...a: unknown[]) => never)(...args)
    }
  }
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize,
    Client: CountingClient,
    application_name: 'fastify-auth',
    statement_timeout: opts.statementTimeoutMs,
    // Set per connection, so no transaction spends a round trip on it.
    options: `-c lock_timeout=${opts.lockTimeoutMs}`,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
  })
  // A dropped idle connection must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  return {
    prisma,
    pool,
    queryCount: () => count,
    async close() {
      await prisma.$disconnect()
      await pool.end()
    },
  }
}
