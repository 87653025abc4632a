// An API of its own, in its own process, that trusts the auth service's access tokens:
// GET /orders answers from the token's claims alone. A logout, a password change or a detected
// theft on the auth service reaches it through the revocation feed within a second.
//
//   npm install && npm start
//
// Environment: AUTH_URL (the auth service's issuer: the standalone service's URL plus /auth,
// default http://127.0.0.1:3000/auth), CLIENT_ID and CLIENT_SECRET (this service's entry in the
// auth service's OAUTH_CLIENTS), HOST (127.0.0.1), PORT (3002); MAX_STALENESS_SEC (60): how long
// it goes on without news from the feed before answering 503.
import Fastify from 'fastify'
import resourceServer from 'fastify-auth-service/resource-server'

const env = process.env
const issuer = env.AUTH_URL || 'http://127.0.0.1:3000/auth'
const app = Fastify({ logger: true })

await app.register(resourceServer, {
  issuer,
  clientId: env.CLIENT_ID,
  clientSecret: env.CLIENT_SECRET,
  maxStalenessSec: env.MAX_STALENESS_SEC ? Number(env.MAX_STALENESS_SEC) : undefined,
  // Plain http only outside production: the client secret goes with every feed request.
  allowHttp: env.NODE_ENV !== 'production',
})

// Whose orders: the token's subject. The claims are the auth plugin's (request.authn).
app.get('/orders', { onRequest: app.authn.authenticate }, async (request) => ({
  owner: request.authn.sub,
  client: request.authn.client_id,
  orders: [{ id: 1, item: 'a teapot', owner: request.authn.sub }],
}))
app.get('/health', async () => ({ status: 'ok' }))

await app.listen({ host: env.HOST || '127.0.0.1', port: Number(env.PORT || 3002) })

// The feed's stream and the key refresh stop with the server.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    app.log.info({ signal }, 'shutting down')
    await app.close()
  })
}
