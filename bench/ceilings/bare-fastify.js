// @ts-check
// Ceiling A: what this Fastify, with the server's options, in a process of its own, answers
// when the route does nothing: GET /auth/me returns a constant of the real /me's shape and size
// through the same kind of response schema. The gap to the real /auth/me (or a host route
// behind authn.authenticate) is everything the access check and the server's hooks add.
import { ME_CONSTANT, ME_SCHEMA, ceilingApp, listen } from './common.js'

const { app, config } = ceilingApp()
app.get('/auth/me', { schema: ME_SCHEMA }, async () => ME_CONSTANT)
await listen(app, config)
