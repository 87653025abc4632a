// The OpenAPI document at /docs/json is a valid OpenAPI 3 document, documents exactly the
// routes the app serves, and gives every response a schema.
import SwaggerParser from '@apidevtools/swagger-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'

let t: TestApp
let doc: OpenApiDocument
// Every route as registered: "METHOD /path/{param}", and whether its schema hides it.
const registered: { route: string; hidden: boolean }[] = []
beforeAll(async () => {
  t = await buildTestApp({
    onRoute: (r) => {
      const hidden = (r.schema as { hide?: boolean } | undefined)?.hide === true
      for (const method of [r.method].flat()) registered.push({ route: `${method} ${r.url.replace(/:(\w+)/g, '{$1}')}`, hidden })
    },
  })
  const res = await t.app.inject({ url: '/docs/json' })
  expect(res.statusCode).toBe(200)
  doc = res.json()
})
afterAll(() => t.close())

interface Operation {
  summary?: string
  tags?: string[]
  requestBody?: { required?: boolean }
  responses: Record<string, { description?: string; content?: Record<string, { schema?: { properties?: object } }> }>
}
interface OpenApiDocument {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown> }
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete']

function documentedRoutes(d: OpenApiDocument): string[] {
  return Object.entries(d.paths).flatMap(([path, ops]) =>
    Object.keys(ops)
      .filter((m) => METHODS.includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  )
}

const operations = (d: OpenApiDocument) =>
  Object.entries(d.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })))

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3 document', async () => {
    expect(doc.openapi).toMatch(/^3\./)
    // The validator dereferences in place; give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined()
  })

  it('documents every route the app serves, and nothing else', () => {
    const served = registered
      // HEAD mirrors GET; a route hidden on purpose (the docs UI itself, a demo page) says so.
      .filter((r) => !r.hidden && !r.route.startsWith('HEAD '))
      .map((r) => r.route)
    expect(served.length).toBeGreaterThanOrEqual(12)
    expect(documentedRoutes(doc).sort()).toEqual([...new Set(served)].sort())
    // Nothing hidden that looks like an API route.
    const hidden = registered.filter((r) => r.hidden).map((r) => r.route)
    expect(hidden.filter((r) => /\/(auth|sessions|health|me)\b/.test(r))).toEqual(['GET /auth/openapi.json', 'HEAD /auth/openapi.json'])
  })

  it('lists the account and session endpoints', () => {
    expect(documentedRoutes(doc)).toEqual(
      expect.arrayContaining([
        'GET /auth/sessions',
        'DELETE /auth/sessions/{id}',
        'GET /auth/sessions/events',
        'POST /auth/logout',
        'POST /auth/password',
        'GET /health/live',
        'GET /health/ready',
      ]),
    )
  })

  it('gives every operation a summary, a tag and a schema for every response', () => {
    for (const { route, op } of operations(doc)) {
      expect(op.summary, route).toBeTruthy()
      expect(op.tags?.length, route).toBeGreaterThan(0)
      const statuses = Object.keys(op.responses)
      expect(statuses.some((s) => s.startsWith('2')), route).toBe(true)
      for (const [status, response] of Object.entries(op.responses)) {
        // No body: a 204, and RFC 7009's 200 for a revocation (§2.2: an empty body).
        if (status === '204' || (route === 'POST /auth/oauth/revoke' && status === '200')) {
          expect(response.content, `${route} ${status}`).toBeUndefined()
          continue
        }
        // The revocation feed is an event stream, not JSON.
        if (route === 'GET /auth/oauth/revocation-feed' && status === '200') {
          expect(response.content?.['text/event-stream']?.schema, `${route} ${status}`).toBeDefined()
          continue
        }
        const schema = response.content?.['application/json']?.schema
        expect(schema, `${route} ${status}`).toBeDefined()
        // Every error is the catalogue's shape, inline (the plugin's routes share no schema with
        // the host's document); login's 401 may also carry a proof-of-work challenge or a
        // second-factor challenge, and a code's 401 (verify, step-up) a proof-of-work challenge.
        const expected =
          route === 'POST /auth/login' && status === '401'
            ? ['error', 'error_description', 'challenge', 'difficulty', 'methods', 'expires_in']
            : ['POST /auth/mfa/verify', 'POST /auth/reauthenticate'].includes(route) && status === '401'
              ? ['error', 'error_description', 'challenge', 'difficulty']
              : ['error', 'error_description']
        if (Number(status) >= 400) expect(Object.keys((schema as { properties: object }).properties), `${route} ${status}`).toEqual(expected)
      }
    }
  })

  it('documents the 429 of every rate-limited route and the 401 of every protected one', () => {
    const responses = (route: string) => operations(doc).find((o) => o.route === route)!.op.responses
    for (const route of ['POST /auth/login', 'POST /auth/register', 'POST /auth/refresh', 'POST /auth/password']) {
      expect(Object.keys(responses(route)), route).toContain('429')
    }
    for (const route of ['GET /auth/me', 'GET /auth/sessions', 'DELETE /auth/sessions/{id}', 'GET /auth/sessions/events', 'POST /auth/password']) {
      expect(Object.keys(responses(route)), route).toContain('401')
    }
  })

  it('documents a 400 on every route that reads our cookies (a repeated one is ambiguous_credentials)', () => {
    const responses = (route: string) => operations(doc).find((o) => o.route === route)!.op.responses
    for (const route of ['GET /auth/me', 'GET /auth/sessions', 'DELETE /auth/sessions/{id}', 'GET /auth/sessions/events', 'POST /auth/password', 'POST /auth/refresh', 'POST /auth/logout']) {
      expect(Object.keys(responses(route)), route).toContain('400')
    }
  })

  it('marks a body required only where a bodiless request is refused', () => {
    const body = (route: string) => operations(doc).find((o) => o.route === route)!.op.requestBody
    expect(body('POST /auth/login')?.required).toBe(true)
    expect(body('POST /auth/logout')?.required).toBe(false) // a browser logs out by cookie
    expect(body('POST /auth/refresh')?.required).toBe(false)
  })

  it('serves the UI at /docs', async () => {
    const res = await t.app.inject({ url: '/docs/' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/text\/html/)
    expect(res.body).toContain('swagger')
  })
})
