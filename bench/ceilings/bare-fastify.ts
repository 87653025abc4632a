// Ceiling A: what this Fastify, with the app's settings, in its own process, can answer when
// the route does nothing. GET /me returns a constant of the same shape and size as the real
// /me, through the same kind of response schema, so the difference to the real /me is the
// access-token check (header/cookie read, Ed25519 verification, claim checks, denylist).
import Fastify from 'fastify'
import { loadConfig } from '../../src/server/config.js'
import { fastifyOptions } from '../../src/server/app.js'
import { serveIpc } from './common.js'

const config = loadConfig()
const app = Fastify(fastifyOptions(config))

const CONSTANT = {
  id: '00000000-0000-4000-8000-000000000000',
  email: 'bench-00000000-0000-4000-8000-000000000000@example.com',
  session_id: '00000000-0000-4000-8000-000000000000',
}
const MeBody = {
  type: 'object',
  properties: { id: { type: 'string' }, email: { type: 'string' }, session_id: { type: 'string' } },
  required: ['id', 'email', 'session_id'],
} as const

app.get('/auth/me', { schema: { response: { 200: MeBody } } }, async () => CONSTANT)

await app.listen({ host: config.host, port: config.port })
serveIpc({ listening: (app.server.address() as { port: number }).port })
