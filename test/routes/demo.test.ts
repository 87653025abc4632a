// The demo page and the built SDK: served, free of database queries, and left out of the
// OpenAPI document.
import { readFileSync } from 'node:fs'
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

  it('GET /sdk/index.js is the built client package (client/dist), with its modules beside it', async () => {
    const index = await app.inject({ url: '/sdk/index.js' })
    expect(index.statusCode).toBe(200)
    expect(index.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(index.body).toMatch(/export \{[^}]*createAuthClient/)
    expect(index.body).toBe(readFileSync(new URL('../../client/dist/index.js', import.meta.url), 'utf8'))
    // every module it imports is served too, so the browser can load the whole SDK
    const imports = [...index.body.matchAll(/from '\.\/([a-z0-9-]+\.js)'/g)].map((m) => m[1]!)
    expect(imports.length).toBeGreaterThan(0)
    for (const file of imports) expect((await app.inject({ url: `/sdk/${file}` })).statusCode, file).toBe(200)
  })

  it('serves only the SDK modules: no path outside client/dist', async () => {
    for (const url of ['/sdk/..%2F..%2Fpackage.json', '/sdk/../package.json', '/sdk/index.d.ts', '/sdk/nope.js', '/sdk/.build-stamp']) {
      const res = await app.inject({ url })
      expect([res.statusCode, res.json().error], url).toEqual([404, 'not_found'])
    }
  })

  it('the demo demo.js imports only the SDK, and is told where the auth routes are', async () => {
    const res = await app.inject({ url: '/demo.js' })
    const imports = [...res.body.matchAll(/^import .* from '([^']+)'/gm)].map((m) => m[1])
    expect(imports).toEqual(['/sdk/index.js'])
    expect(res.body).toContain("basePath: '/auth'")
  })

  it('is not in the OpenAPI document', async () => {
    const doc = await app.inject({ url: '/docs/json' })
    if (doc.statusCode !== 200) return // no OpenAPI document in this build
    const paths = Object.keys(doc.json().paths as object)
    for (const p of ['/', '/sdk/{file}', '/demo.js', '/demo.css']) expect(paths).not.toContain(p)
  })
})
