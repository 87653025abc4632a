import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { ERROR_CATALOGUE } from '../../src/errors.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

function expectErrorShape(body: string, code: string) {
  const json = JSON.parse(body)
  expect(json).toEqual({ error: code, error_description: expect.any(String) })
  expect(body).not.toMatch(/\.ts:\d+|node_modules|Error:/)
}

describe('error responses', () => {
  it('unknown route: 404 not_found', async () => {
    const res = await t.app.inject({ url: '/nope' })
    expect(res.statusCode).toBe(404)
    expectErrorShape(res.body, 'not_found')
  })

  it('malformed JSON: 400 invalid_request', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: '{"email": ',
      headers: { 'content-type': 'application/json' },
    })
    expect(res.statusCode).toBe(400)
    expectErrorShape(res.body, 'invalid_request')
  })

  it('unsupported content type: 415 unsupported_media_type', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: 'x', headers: { 'content-type': 'text/xml' } })
    expect(res.statusCode).toBe(415)
    expectErrorShape(res.body, 'unsupported_media_type')
  })

  it('oversized body: 413 payload_too_large', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(100_000) }),
      headers: { 'content-type': 'application/json' },
    })
    expect(res.statusCode).toBe(413)
    expectErrorShape(res.body, 'payload_too_large')
  })

  it('a JSON body that is not an object: 400', async () => {
    for (const payload of ['[]', '"str"', '123', 'null']) {
      const res = await t.app.inject({ method: 'POST', url: '/auth/register', payload, headers: { 'content-type': 'application/json' } })
      expect(res.statusCode).toBe(400)
      expectErrorShape(res.body, 'invalid_request')
    }
  })

  it('prototype-pollution keys are refused or ignored, never a 500', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: '{"__proto__": {"admin": true}, "email": "a@example.com", "password": "whatever123"}',
      headers: { 'content-type': 'application/json' },
    })
    expect(res.statusCode).toBeGreaterThanOrEqual(400)
    expect(res.statusCode).toBeLessThan(500)
  })

  it('every catalogued code is snake_case with a status and a description', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/)
      expect(entry.status).toBeGreaterThanOrEqual(400)
      expect(entry.description.length).toBeGreaterThan(5)
    }
  })
})
