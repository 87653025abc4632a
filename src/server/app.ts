// The standalone server: the auth plugin mounted at /auth on a Fastify of its own, with what
// a deployed service needs around it: health checks, the OpenAPI document and its UI,
// Prometheus metrics (opt-in), the demo page (development), logging with credentials
// redacted, and a drain on shutdown. server/main.ts and the tests both build it through
// buildServer(), from the same options, so what is tested is what runs.
import { createRequire } from 'node:module'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify'
import helmet from '@fastify/helmet'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { collectDefaultMetrics, Registry } from 'prom-client'
import type { Config, TrustProxy } from './config.js'
import { ApiError } from '../errors.js'
import { clientIp } from '../http/meta.js'
import { trustProxyHops } from '../http/trust-proxy.js'
import { clientErrorHandler, errorHandler } from '../http/error-handler.js'
import authPlugin from '../plugin.js'
import { openApiOptions } from '../openapi.js'
import health from './health.js'
import demo from './demo.js'
import metrics from './metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** answers every new request 503 and resolves once those in flight have finished */
    drain(): Promise<void>
  }
}

export interface ServerOptions {
  config: Config
  databaseUrl: string
  /** where logs go instead of stdout (tests read them to prove redaction) */
  logStream?: { write(line: string): void }
  fastify?: FastifyServerOptions
  /** sees every route as it is registered (the OpenAPI test lists them with this) */
  onRoute?: (route: RouteOptions) => void
  /** the plugin's clock (ms since the epoch): tests hold it where TOTP steps and step-up ages matter */
  clock?: () => number
}

/** Where the plugin is mounted in the standalone server. */
export const AUTH_PREFIX = '/auth'

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

export function loggerOptions(config: Config, stream?: ServerOptions['logStream']): FastifyServerOptions['logger'] {
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
    // Pretty lines for a developer at a terminal, when pino-pretty (a dev dependency) is there.
    ...(!stream && config.env === 'development' && process.stdout.isTTY && installed('pino-pretty')
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } }
      : {}),
  }
}

/** The server options; the benchmarks' ceiling processes reuse them to compare like with like. */
export function fastifyOptions(config: Config, logStream?: ServerOptions['logStream']): FastifyServerOptions {
  return {
    logger: loggerOptions(config, logStream),
    // A line per request costs a busy instance more than the request does: off unless asked for.
    logController: new LogController({ disableRequestLogging: !config.logRequests }),
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

export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const { config } = opts
  const app = Fastify({ ...fastifyOptions(config, opts.logStream), ...opts.fastify }).withTypeProvider<TypeBoxTypeProvider>()

  if (opts.onRoute) app.addHook('onRoute', opts.onRoute)
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).header('x-content-type-options', 'nosniff').send(new ApiError('not_found').toBody())
  })
  // Shutdown comes in two steps. drain() (src/server.ts, on SIGTERM) keeps the socket open:
  // every new request, on a new connection or a kept-alive one, is answered 503 with
  // Connection: close, and it resolves once the requests already in flight have finished.
  // Then close() stops listening (a later connection is refused) and closes the pool. close()
  // alone drains too, minus the open socket.
  //
  // The requests in flight are found when the drain begins, from the open connections: each
  // socket's response in progress (Node's socket._httpMessage, which it clears once the
  // answer is out; http-terminator reads it the same way). Connections are tracked, not
  // requests: a listener on every request cost the cached protected path about 0.8 µs of
  // its 30. A pipelined request queued behind another is answered 503 like a new one.
  let closing = false
  const sockets = new Set<Socket>()
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const inFlight = () => {
    const responses: ServerResponse[] = []
    for (const socket of sockets) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
      if (res && !res.writableFinished) responses.push(res)
    }
    return responses
  }
  let drained: Promise<void> | null = null
  // An in-flight request's connection ends with its answer instead of idling on, so the
  // server's close completes as soon as the last answer is out.
  // The revocation feed's streams never finish by themselves: they end here, and their
  // subscribers reconnect to another instance.
  const stopAccepting = () => {
    closing = true
    if (app.hasDecorator('authn')) app.authn.closeStreams()
    for (const res of inFlight()) res.shouldKeepAlive = false
  }
  app.decorate('drain', (): Promise<void> => {
    stopAccepting()
    drained ??= Promise.all(inFlight().map((res) => new Promise((resolve) => res.once('close', resolve)))).then(() => undefined)
    return drained
  })
  app.addHook('preClose', async () => stopAccepting())
  // A callback hook: it runs on every request, and an async one costs more for nothing.
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done()
    reply.header('connection', 'close')
    done(new ApiError('service_unavailable', 'The server is shutting down; retry.', 1))
  })

  // Before any route: it documents the routes registered after it, the plugin's included.
  await app.register(swagger, openApiOptions(config, { health: true }))
  // The pages (the docs UI, the demo) in a context of their own, with the security headers a
  // page needs: scripts from this origin only; over plain http (development on a LAN address)
  // upgrading requests to https would break them. Not around the JSON routes: helmet's hooks
  // cost about half the throughput of a small route, for headers a JSON answer has no use for
  // (the plugin sets what its answers need).
  await app.register(async (pages) => {
    await pages.register(helmet, {
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          frameAncestors: ["'none'"],
          upgradeInsecureRequests: config.cookies.secure ? [] : null,
        },
      },
      hsts: config.cookies.secure ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    })
    await pages.register(swaggerUi, { routePrefix: '/docs' })
    if (config.demoPage) await pages.register(demo, { authPath: AUTH_PREFIX })
  })

  const registry = new Registry()
  if (config.metrics.enabled) collectDefaultMetrics({ register: registry })
  await app.register(authPlugin, {
    ...config.auth,
    prefix: AUTH_PREFIX,
    database: {
      url: opts.databaseUrl,
      poolSize: config.db.poolSize,
      lockTimeoutMs: config.db.lockTimeoutMs,
      statementTimeoutMs: config.db.statementTimeoutMs,
      ...(config.databaseDirectUrl ? { directUrl: config.databaseDirectUrl } : {}),
    },
    metricsRegistry: registry,
    requestMetrics: config.metrics.enabled,
    ...(opts.clock ? { clock: opts.clock } : {}),
  })
  await app.register(health)
  if (config.metrics.enabled) await app.register(metrics, { registry, token: config.metrics.token })
  return app
}

/** Fastify's trustProxy for a TRUST_PROXY setting (README: Client address behind proxies). */
export function trustProxyOption(setting: TrustProxy): NonNullable<FastifyServerOptions['trustProxy']> {
  return typeof setting === 'number' ? trustProxyHops(setting) : setting
}

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg)
    return true
  } catch {
    return false
  }
}
