// The whole application as one plugin. server.ts and the tests both build it through
// buildApp(), from the same options, so what is tested is what runs.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import { ApiError, type ErrorCode } from './errors.js'
import { clientIp, trustProxyOption } from './http/meta.js'
import { ErrorBody, LoginUnauthorized, PATTERN_DESCRIPTIONS } from './schemas/common.js'
import services from './plugins/services.js'
import accessTokens from './plugins/access-tokens.js'
import rateLimit from './plugins/rate-limit.js'
import cleanup from './plugins/cleanup.js'
import webSecurity from './plugins/web-security.js'
import register from './routes/auth/register.js'
import login from './routes/auth/login.js'
import refresh from './routes/auth/refresh.js'
import logout from './routes/auth/logout.js'
import password from './routes/auth/password.js'
import me from './routes/me.js'
import wellKnown from './routes/well-known.js'
import listSessions from './routes/sessions/list.js'
import revokeSession from './routes/sessions/revoke.js'
import sessionEvents from './routes/sessions/events.js'
import health from './routes/health.js'
import demo from './routes/demo.js'
import { openApiOptions } from './openapi.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** answers every new request 503 and resolves once those in flight have finished */
    drain(): Promise<void>
  }
}

export interface AppOptions {
  config: Config
  databaseUrl: string
  /** where logs go instead of stdout (tests read them to prove redaction) */
  logStream?: { write(line: string): void }
  fastify?: FastifyServerOptions
  /** sees every route as it is registered (the OpenAPI test lists them with this) */
  onRoute?: (route: RouteOptions) => void
}

// Anything that can carry a credential is removed from logs before it is written.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.passwordHash',
  '*.password_hash',
  '*.refresh_token',
  '*.access_token',
  '*.refreshToken',
  '*.accessToken',
  '*.token',
]

export function loggerOptions(config: Config, stream?: AppOptions['logStream']): FastifyServerOptions['logger'] {
  if (config.logLevel === 'silent') return false
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Fastify's own serializer logs request.ip, which can be X-Forwarded-For text; log
    // viewers render it. Same fields, with the address the rest of the service uses. Code
    // may log any object as `req`, hence the check for a real request.
    serializers: {
      req: (request) => ({
        method: request.method,
        url: request.url,
        version: request.headers?.['accept-version'] as string | undefined,
        host: request.host,
        remoteAddress: request.raw ? (clientIp(request) ?? undefined) : undefined,
        remotePort: request.socket?.remotePort,
      }),
    },
    ...(stream ? { stream } : {}),
    ...(!stream && config.env === 'development' && process.stdout.isTTY
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } }
      : {}),
  }
}

/** The server options; the benchmarks' ceiling processes reuse them to compare like with like. */
export function fastifyOptions(config: Config, logStream?: AppOptions['logStream']): FastifyServerOptions {
  return {
    logger: loggerOptions(config, logStream),
    trustProxy: trustProxyOption(config.trustProxy),
    bodyLimit: 64 * 1024,
    clientErrorHandler,
    // Client-chosen ids would let one request's log lines pose as another's.
    requestIdHeader: false,
    // A number where a string belongs is a client bug to report, not to paper over.
    ajv: { customOptions: { coerceTypes: false } },
    // During shutdown a hook in buildApp answers in the catalogue's shape instead.
    return503OnClosing: false,
  }
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config } = opts
  const app = Fastify({ ...fastifyOptions(config, opts.logStream), ...opts.fastify }).withTypeProvider<TypeBoxTypeProvider>()

  if (opts.onRoute) app.addHook('onRoute', opts.onRoute)
  app.addSchema(ErrorBody)
  app.addSchema(LoginUnauthorized)
  // A bodiless POST (a browser refreshing or logging out by cookie) validates as `{}`.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined || request.body === null) request.body = {}
  })
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send(new ApiError('not_found').toBody())
  })
  // Shutdown comes in two steps. drain() (src/server.ts, on SIGTERM) keeps the socket open:
  // every new request, on a new connection or a kept-alive one, is answered 503 with
  // Connection: close, and it resolves once the requests already in flight have finished.
  // Then close() stops listening (a later connection is refused) and closes the pool. close()
  // alone drains too, minus the open socket.
  let closing = false
  let inFlight = 0
  let drained: Promise<void> | null = null
  let onDrained = () => {}
  app.server.on('request', (_req, res) => {
    inFlight++
    res.once('close', () => {
      if (--inFlight === 0) onDrained()
    })
  })
  app.decorate('drain', (): Promise<void> => {
    closing = true
    drained ??= inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onDrained = resolve))
    return drained
  })
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return
    reply.header('connection', 'close')
    throw new ApiError('service_unavailable', 'The server is shutting down; retry.', 1)
  })
  // An in-flight request's connection ends with its answer instead of idling on, so the
  // server's close completes as soon as the last answer is out.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })

  await app.register(cookie)
  await app.register(formbody)
  // Before any route: it documents the routes registered after it.
  await app.register(swagger, openApiOptions(config))
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(services, { config, databaseUrl: opts.databaseUrl })
  // After services: its Postgres store counts through the app's pool.
  await app.register(rateLimit)
  await app.register(cleanup)
  await app.register(accessTokens, { config })
  await app.register(webSecurity, { corsOrigins: config.corsOrigins, https: config.cookies.secure })

  await app.register(register)
  await app.register(login)
  await app.register(refresh)
  await app.register(logout)
  await app.register(password)
  await app.register(me)
  await app.register(listSessions)
  await app.register(revokeSession)
  await app.register(sessionEvents)
  await app.register(wellKnown)
  await app.register(health)
  if (config.demoPage) await app.register(demo)
  return app
}

// Fastify's own codes for malformed requests, and the stable code each becomes.
const FASTIFY_CLIENT_ERRORS: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
}

function errorHandler(this: FastifyInstance, error: FastifyError, request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) {
  if (error instanceof ApiError) {
    if (error.retryAfterSec !== undefined) reply.header('retry-after', String(error.retryAfterSec))
    if (error.wwwAuthenticate !== undefined) reply.header('www-authenticate', error.wwwAuthenticate)
    if (error.statusCode >= 500) request.log.warn({ code: error.code }, error.message)
    return reply.code(error.statusCode).send(error.toBody())
  }
  if (error.validation) {
    const e = new ApiError('invalid_request', validationDescription(error))
    return reply.code(e.statusCode).send(e.toBody())
  }
  const mapped = error.code ? FASTIFY_CLIENT_ERRORS[error.code] : undefined
  if (mapped || (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)) {
    const e = new ApiError(mapped ?? 'invalid_request')
    return reply.code(mapped ? e.statusCode : error.statusCode!).send(e.toBody())
  }
  request.log.error({ err: error }, 'unhandled error')
  return reply.code(500).send(new ApiError('server_error').toBody())
}

function validationDescription(error: FastifyError): string {
  const context = error.validationContext ?? 'request'
  const first = error.validation![0]
  // A control-character pattern is stated in words and names the field, never as the regex.
  const words = first?.keyword === 'pattern' ? PATTERN_DESCRIPTIONS[String(first.params.pattern)] : undefined
  if (words) return `${context}${first!.instancePath} ${words}`
  return `${context} ${first?.message ?? 'is invalid'}`.trim()
}

// Requests Node rejects before Fastify sees them (oversized headers, a broken request line)
// still get the catalogue's shape instead of Fastify's default body.
function clientErrorHandler(err: NodeJS.ErrnoException, socket: import('node:net').Socket) {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW'
  const e = new ApiError(tooLarge ? 'request_header_too_large' : 'invalid_request')
  const body = JSON.stringify(e.toBody())
  socket.end(
    `HTTP/1.1 ${e.statusCode} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}
