// Builds the standalone server exactly as server/main.ts does, on a fresh database, with
// test-sized settings.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { buildServer, type ServerOptions } from '../../src/server/app.js'
import { loadConfig, type Config } from '../../src/server/config.js'
import { createTestDatabase } from './database.js'
import { rememberDatabase } from './flows.js'

const testKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

/** Environment for loadConfig: real parsing, cheap argon2, a fixed test key. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_PRIVATE_KEY: testKey,
    JWT_KEY_ID: 'test-key',
    REFRESH_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    DENYLIST_SYNC_INTERVAL_MS: '200',
    // Every test request comes from 127.0.0.1, like a very large office behind one address;
    // test/app/rate-limit.test.ts sets its own limits. Per-session refresh limits keep their
    // defaults, which concurrency tests must fit in.
    RATE_LIMIT_LOGIN_PER_IP: '1000000',
    RATE_LIMIT_REGISTER_PER_IP: '1000000',
    RATE_LIMIT_MAIL_PER_IP: '1000000',
    RATE_LIMIT_CODE_PER_IP: '1000000',
    ...overrides,
  }
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(testEnv(overrides))
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  databaseUrl: string
  close(): Promise<void>
}

export async function buildTestApp(
  opts: {
    env?: Record<string, string>
    databaseUrl?: string
    fastify?: FastifyServerOptions
    config?: Config
    logStream?: { write(line: string): void }
    onRoute?: ServerOptions['onRoute']
    clock?: ServerOptions['clock']
  } = {},
): Promise<TestApp> {
  const config = opts.config ?? testConfig(opts.env)
  const db = opts.databaseUrl ? null : await createTestDatabase()
  const databaseUrl = opts.databaseUrl ?? db!.url
  const app = await buildServer({ config, databaseUrl, fastify: opts.fastify, logStream: opts.logStream, onRoute: opts.onRoute, clock: opts.clock })
  await app.ready()
  rememberDatabase(app, databaseUrl)
  return {
    app,
    config,
    databaseUrl,
    async close() {
      await app.close()
      await db?.drop()
    },
  }
}

/** A metric of the auth plugin, as Prometheus would scrape it (summed over its labels). */
export async function metricValue(app: FastifyInstance, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = app.authn.metrics.getSingleMetric(name)
  if (!metric) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0)
}

/**
 * Statements the plugin has sent, once nothing is in flight: audit rows are written in a batch
 * up to 50 ms after the request that recorded them, so the count is read until it holds still.
 */
export async function settledStatements(app: FastifyInstance): Promise<number> {
  let before = await metricValue(app, 'auth_db_statements_total')
  for (;;) {
    await new Promise((r) => setTimeout(r, 120))
    const now = await metricValue(app, 'auth_db_statements_total')
    if (now === before) return now
    before = now
  }
}
