// The OpenAPI 3 document, built by @fastify/swagger from each route's TypeBox schemas: the
// plugin's own at {prefix}/openapi.json, and the standalone server's (the plugin's routes
// and the server's) at /docs/json, with its UI at /docs.
import type { SwaggerOptions } from '@fastify/swagger'
import { cookieNames } from './http/transport.js'

export function openApiOptions(settings: { cookies: { secure: boolean } }, extra: { health?: boolean } = {}): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'fastify-auth-service',
        version: '0.1.0',
        description:
          'Register, log in, rotate refresh tokens, manage sessions. Every error is `{error, error_description}` with a stable code; 429 and 503 carry Retry-After.',
      },
      tags: [
        { name: 'auth', description: 'Accounts and tokens' },
        { name: 'sessions', description: "The caller's sessions and account activity" },
        { name: 'recovery', description: 'Password reset by mail' },
        { name: 'email', description: 'Verifying the address, and changing it' },
        { name: 'mfa', description: "Second factors: the authenticator app, recovery codes, a login's second step, step-up" },
        { name: 'passkeys', description: 'Passkeys (WebAuthn): register, list, remove, log in' },
        ...(extra.health ? [{ name: 'health', description: 'Liveness and readiness' }] : []),
        { name: 'keys', description: 'Public keys for verifying access tokens' },
      ],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          accessCookie: { type: 'apiKey', in: 'cookie', name: cookieNames(settings.cookies.secure).access },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
    transformObject: (documentObject) => {
      const doc = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject
      markOptionalBodies(doc as unknown as Document)
      return doc
    },
  }
}

interface Document {
  paths?: Record<string, Record<string, { requestBody?: { required?: boolean; content?: Record<string, { schema?: { required?: string[] } }> } }>>
}

// @fastify/swagger marks every request body required, but here a bodiless POST is read as {}
// (a browser logging out or refreshing by cookie sends none). A body is required only when
// every media type it accepts has required fields.
function markOptionalBodies(doc: Document): void {
  for (const ops of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(ops)) {
      const body = op.requestBody
      if (!body?.content) continue
      body.required = Object.values(body.content).every((m) => (m.schema?.required?.length ?? 0) > 0)
    }
  }
}
