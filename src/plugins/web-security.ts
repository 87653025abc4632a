// Browser-facing hardening: security headers (@fastify/helmet), a CORS allowlist with
// credentials for listed origins only (@fastify/cors), and the CSRF check of src/http/csrf.ts
// on every state-changing request.
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'
import type { FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import { TRANSPORT_HEADER } from '../http/transport.js'
import { checkCsrf } from '../http/csrf.js'

export interface WebSecurityOptions {
  corsOrigins: string[]
  /** served over https (COOKIE_SECURE): only then HSTS and upgrade-insecure-requests */
  https: boolean
}

export default fp<WebSecurityOptions>(
  async (fastify, { corsOrigins, https }) => {
    const allowed = new Set(corsOrigins)
    await fastify.register(helmet, {
      // Pages served here (the demo) load scripts from this origin only. Over plain http
      // (development on a LAN address) upgrading requests to https would break the page.
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          frameAncestors: ["'none'"],
          upgradeInsecureRequests: https ? [] : null,
        },
      },
      hsts: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    })
    await fastify.register(cors, {
      origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
      credentials: true,
      allowedHeaders: ['content-type', 'authorization', TRANSPORT_HEADER],
      methods: ['GET', 'POST', 'DELETE', 'PUT', 'PATCH'],
      maxAge: 600,
    })

    const transport = fastify.transport
    fastify.addHook('onRequest', async (request: FastifyRequest) => {
      const verdict = checkCsrf({
        method: request.method,
        transportHeader: request.headers[TRANSPORT_HEADER] as string | undefined,
        authorization: request.headers.authorization,
        hasAuthCookie: transport.carriesAuthCookie(request),
        origin: request.headers.origin,
        secFetchSite: request.headers['sec-fetch-site'] as string | undefined,
        selfOrigin: `${request.protocol}://${request.host}`,
        allowedOrigins: allowed,
      })
      if (!verdict.ok) {
        request.log.warn({ reason: verdict.reason, origin: request.headers.origin }, 'csrf check refused a request')
        throw new ApiError('csrf_rejected', verdict.reason)
      }
    })
  },
  { name: 'web-security', dependencies: ['@fastify/cookie', 'services'] },
)
