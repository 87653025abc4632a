// The demo page and the bundled SDK: served, cached, free of database queries, and left out
// of the OpenAPI document.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../src/server/app.js'
import { testConfig } from '../helpers/app.js'
import { createTestDatabase } from '../helpers/database.js'

let app: FastifyInstance
let drop: () => Promise<void>

beforeAll(async () => {
  const db = await createTestDatabase()
  drop = db.drop
  app = await buildServer({ config: testConfig(), databaseUrl: db.url })
  await app.ready()
})
afterAll(async () => {
  await app.close()
  await drop()
})

describe('demo page', () => {
  it('GET / is the page, loading its script and styles from this origin only', async () => {
    const res = await app.inject({ url: '/' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(res.body).toContain('<script type="module" src="/demo.js"></script>')
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/) // no inline script: CSP script-src 'self' holds
    for (const [url, type] of [['/demo.js', 'text/javascript'], ['/demo.css', 'text/css']]) {
      const r = await app.inject({ url: url! })
      expect(r.statusCode).toBe(200)
      expect(r.headers['content-type']).toContain(type!)
    }
  })

  it('GET /sdk.js is the SDK bundled as one ES module, built once', async () => {
    const started = Date.now()
    const first = await app.inject({ url: '/sdk.js' })
    const firstMs = Date.now() - started
    expect(first.statusCode).toBe(200)
    expect(first.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(first.body).toMatch(/export\s*\{[^}]*createAuthClient/)
    expect(first.body).not.toMatch(/^\s*import\s/m) // bundled: nothing left to fetch
    const t = Date.now()
    const second = await app.inject({ url: '/sdk.js' })
    expect(second.body).toBe(first.body)
    expect(Date.now() - t).toBeLessThanOrEqual(Math.max(firstMs, 50))
  })

  it('the demo demo.js imports only /sdk.js', async () => {
    const res = await app.inject({ url: '/demo.js' })
    const imports = [...res.body.matchAll(/^import .* from '([^']+)'/gm)].map((m) => m[1])
    expect(imports).toEqual(['/sdk.js'])
  })

  it('is not in the OpenAPI document', async () => {
    const doc = await app.inject({ url: '/docs/json' })
    if (doc.statusCode !== 200) return // no OpenAPI document in this build
    const paths = Object.keys(doc.json().paths as object)
    for (const p of ['/', '/sdk.js', '/demo.js', '/demo.css']) expect(paths).not.toContain(p)
  })
})
