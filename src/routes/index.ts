// The plugin's own routes, in a context of their own under the prefix. Everything registered
// here (cookie and form parsing, response headers, CORS, the CSRF check, the body default,
// the error and not-found handlers, validation settings, the OpenAPI document) applies to
// these routes only; the host's routes never see it. Plugins the host has registered already
// (cookies, forms, CORS) are used as they are rather than registered twice.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import AjvCompiler from '@fastify/ajv-compiler'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import cors from '@fastify/cors'
import swagger, { type SwaggerOptions } from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ApiError } from '../errors.js'
import { errorHandler } from '../http/error-handler.js'
import { TRANSPORT_HEADER } from '../http/transport.js'
import { checkCsrf } from '../http/csrf.js'
import { ipLimiter } from '../limits/rate-limit-store.js'
import { openApiOptions } from '../openapi.js'
import type { Core } from '../core.js'
import type { AccessTokens, Authenticator } from '../access-tokens.js'
import type { RouteDeps } from './context.js'
import register from './register.js'
import login from './login.js'
import refresh from './refresh.js'
import logout from './logout.js'
import password from './password.js'
import me from './me.js'
import listSessions from './sessions/list.js'
import revokeSession from './sessions/revoke.js'
import sessionEvents from './sessions/events.js'
import jwks from './jwks.js'
import forgotPassword from './password-forgot.js'
import resetPassword from './password-reset.js'
import verifyEmail from './email/verify.js'
import changeEmail from './email/change.js'
import mfaTotp from './mfa/totp.js'
import mfaVerify from './mfa/verify.js'
import reauthenticate from './reauthenticate.js'
import passkeys from './passkeys/index.js'
import oauth from './oauth.js'
import type { RevocationFeed } from '../oauth/feed.js'

export interface RoutesOptions {
  core: Core
  tokens: AccessTokens
  authenticate: Authenticator
  metadata: Record<string, unknown>
  feed: RevocationFeed | null
}

const FORM = 'application/x-www-form-urlencoded'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export default async function routes(parent: FastifyInstance, { core, tokens, authenticate, metadata, feed }: RoutesOptions): Promise<void> {
  const fastify = parent.withTypeProvider<TypeBoxTypeProvider>()
  const { settings } = core

  // Validation by our rules whatever the host's Ajv settings: Fastify's defaults, except that a
  // number where a string belongs is a client bug to report, not to coerce.
  const ajv = AjvCompiler()({}, { customOptions: { coerceTypes: false } })
  fastify.setValidatorCompiler(ajv)

  // Only reply.setCookie is ours to use: the cookies we read come from the raw header (so they
  // are found on a host's routes too), and parsing every request's cookies costs every request.
  if (!fastify.hasReplyDecorator('setCookie')) await fastify.register(cookie, { hook: false })
  if (!fastify.hasContentTypeParser(FORM)) await fastify.register(formbody)
  const allowed = new Set(settings.corsOrigins)
  if (allowed.size > 0 && !fastify.hasRequestDecorator('corsPreflightEnabled')) {
    await fastify.register(cors, {
      origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
      credentials: true,
      allowedHeaders: ['content-type', 'authorization', TRANSPORT_HEADER],
      methods: ['GET', 'POST', 'DELETE'],
      maxAge: 600,
    })
  }
  // Under its own decorator name, beside a host's @fastify/swagger if it has one.
  if (settings.openapi) await fastify.register(swagger, { ...openApiOptions(settings), decorator: 'authnOpenApi' } as SwaggerOptions)

  // What every answer of these routes needs, and all it needs: they are JSON for one client
  // (nothing to sniff, nothing any cache may keep; a route that may be cached says so itself).
  // Not @fastify/helmet: its page-oriented headers cost about half the throughput of a small
  // route (measured here), and a JSON answer has no use for a CSP. HSTS when the cookies are
  // Secure, which says the service is reached over https.
  const apiHeaders: Record<string, string> = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' }
  if (settings.cookies.secure) apiHeaders['strict-transport-security'] = 'max-age=31536000; includeSubDomains'
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.headers(apiHeaders)
    done()
  })
  // Per route, so that nothing runs where it has nothing to do: the CSRF check on routes that
  // change state, the bodiless-POST default on POST routes, request metrics when asked for.
  const csrf = async (request: FastifyRequest) => {
    const verdict = checkCsrf({
      method: request.method,
      transportHeader: request.headers[TRANSPORT_HEADER] as string | undefined,
      authorization: request.headers.authorization,
      hasAuthCookie: core.transport.carriesAuthCookie(request),
      origin: request.headers.origin,
      secFetchSite: request.headers['sec-fetch-site'] as string | undefined,
      selfOrigin: `${request.protocol}://${request.host}`,
      allowedOrigins: allowed,
    })
    if (!verdict.ok) {
      request.log.warn({ reason: verdict.reason, origin: request.headers.origin }, 'csrf check refused a request')
      throw new ApiError('csrf_rejected', verdict.reason)
    }
  }
  // A bodiless POST (a browser refreshing or logging out by cookie) validates as `{}`.
  const bodyDefault = async (request: FastifyRequest) => {
    if (request.body === undefined || request.body === null) request.body = {}
  }
  fastify.addHook('onRoute', (route) => {
    const methods = [route.method].flat()
    if (methods.some((m) => !SAFE_METHODS.has(m))) route.onRequest = [csrf, ...[route.onRequest ?? []].flat()]
    if (methods.includes('POST')) route.preValidation = [bodyDefault, ...[route.preValidation ?? []].flat()]
  })
  if (settings.requestMetrics) {
    fastify.addHook('onResponse', (request, reply, done) => {
      core.metrics.request(request.method, request.routeOptions.url ?? 'unknown', reply.statusCode, reply.elapsedTime / 1000)
      done()
    })
  }
  fastify.setErrorHandler(errorHandler)
  fastify.setNotFoundHandler((_request, reply) => {
    reply.code(404).send(new ApiError('not_found').toBody())
  })

  const limitPerIp = ipLimiter(core.counterBackend, settings.rateLimit.windowSec)
  const deps: RouteDeps = { core, tokens, authenticate, limitPerIp }
  const all = [register, login, refresh, logout, password, forgotPassword, resetPassword, verifyEmail, changeEmail, me, listSessions, revokeSession, sessionEvents, jwks]
  // second factors and passkeys
  all.push(mfaTotp, mfaVerify, reauthenticate, passkeys)
  for (const route of all) {
    await fastify.register(route, deps)
  }
  await fastify.register(oauth, { ...deps, metadata, feed })
  if (settings.openapi) {
    fastify.get('/openapi.json', { schema: { hide: true } }, async () => (fastify as unknown as { authnOpenApi(): unknown }).authnOpenApi())
  }
}
