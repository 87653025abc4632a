// Builds the app exactly as server.ts does, on a fresh database, with test-sized settings.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { buildApp, type AppOptions } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { createTestDatabase } from './database.js'

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
    onRoute?: AppOptions['onRoute']
  } = {},
): Promise<TestApp> {
  const config = opts.config ?? testConfig(opts.env)
  const db = opts.databaseUrl ? null : await createTestDatabase()
  const databaseUrl = opts.databaseUrl ?? db!.url
  const app = await buildApp({ config, databaseUrl, fastify: opts.fastify, logStream: opts.logStream, onRoute: opts.onRoute })
  await app.ready()
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
