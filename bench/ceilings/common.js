// @ts-check
// What every ceiling process shares with the real server, so that the only difference left is
// the route's own work: plain node on the compiled code (no loader), the server's Fastify
// options (dist/server/app.js fastifyOptions: same logger at the same level, same body limit,
// trustProxy, error handling), and the same two operator routes the bench reads, GET
// /health/live and GET /metrics (prom-client's default metrics, behind METRICS_TOKEN), so each
// process is measured by the same scrape. Plain JavaScript (type-checked by tsc -p bench) so
// that no process under measurement runs under tsx's loader.
import { timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { loadConfig } from '../../dist/server/config.js'
import { fastifyOptions } from '../../dist/server/app.js'

/** A Fastify app configured as the standalone server's, with its operator routes. */
export function ceilingApp() {
  const config = loadConfig()
  const app = Fastify(fastifyOptions(config))
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  operatorRoutes(app, registry)
  return { app, config, registry }
}

/**
 * GET /health/live and GET /metrics as the server has them (same log level, same bearer
 * check). The host app uses this too.
 * @param {import('fastify').FastifyInstance} app
 * @param {Registry} registry
 */
export function operatorRoutes(app, registry) {
  const token = process.env.METRICS_TOKEN
  const expected = token ? Buffer.from(`Bearer ${token}`) : null
  app.get('/health/live', { logLevel: 'warn' }, async () => ({ status: 'ok' }))
  app.get('/metrics', { logLevel: 'warn' }, async (request, reply) => {
    if (expected !== null) {
      const sent = Buffer.from(request.headers.authorization ?? '')
      if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) return reply.code(401).send({ error: 'unauthorized' })
    }
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}

/**
 * Listens where the bench said (HOST, PORT) and closes on SIGTERM, as the server does.
 * @param {import('fastify').FastifyInstance} app
 * @param {{ host: string, port: number }} config
 */
export async function listen(app, config) {
  process.once('SIGTERM', () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
  await app.listen({ host: config.host, port: config.port })
}

/** The body GET /auth/me answers, same shape and size, through the same kind of response schema. */
export const ME_CONSTANT = {
  id: '00000000-0000-4000-8000-000000000000',
  email: 'bench-00000000-0000-4000-8000-000000000000@example.com',
  session_id: '00000000-0000-4000-8000-000000000000',
}
export const ME_SCHEMA = {
  response: {
    200: {
      type: 'object',
      properties: { id: { type: 'string' }, email: { type: 'string' }, session_id: { type: 'string' } },
      required: ['id', 'email', 'session_id'],
    },
  },
}
