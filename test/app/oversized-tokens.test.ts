// Tokens far larger than any we issue, over real sockets (Node's own header limit applies
// there, not in inject). Each is refused with a stable code, never a 5xx or a hang.
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'

let t: TestApp
let base: string
beforeAll(async () => {
  t = await buildTestApp()
  await t.app.listen({ host: '127.0.0.1', port: 0 })
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
})
afterAll(() => t.close())

function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false
    const req = http.request(`${base}${path}`, { method, headers }, (res) => {
      answered = true
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (data += c))
      res.on('end', () => resolve({ status: res.statusCode!, body: data }))
    })
    // The server may answer (413) and close before a huge body is fully written; the answer
    // is what counts, the client's write error after it is not.
    req.on('error', (err) => setTimeout(() => answered || reject(err), 100))
    req.end(body)
  })
}

const jwtShaped = (bytes: number) => {
  const part = 'A'.repeat(Math.floor(bytes / 3))
  return `${part}.${part}.${part}`
}

describe('oversized tokens', () => {
  it('an 8 KB access token: 401 invalid_token, by header and by cookie', async () => {
    const token = jwtShaped(8 * 1024)
    for (const headers of [{ authorization: `Bearer ${token}` }, { cookie: `access_token=${token}` }] as Record<string, string>[]) {
      const res = await send('GET', '/auth/me', headers)
      expect(res.status).toBe(401)
      expect(JSON.parse(res.body).error).toBe('invalid_token')
    }
  })

  it('a 1 MB access token: 431 request_header_too_large with the usual error shape', async () => {
    const token = jwtShaped(1024 * 1024)
    for (const headers of [{ authorization: `Bearer ${token}` }, { cookie: `access_token=${token}` }] as Record<string, string>[]) {
      const res = await send('GET', '/auth/me', headers)
      expect(res.status).toBe(431)
      expect(JSON.parse(res.body)).toEqual({ error: 'request_header_too_large', error_description: expect.any(String) })
    }
  })

  it('a 1 MB refresh token in a body: 413 payload_too_large; 8 KB: 400 invalid_request', async () => {
    const big = await send('POST', '/auth/refresh', { 'content-type': 'application/json' }, JSON.stringify({ refresh_token: 'A'.repeat(1024 * 1024) }))
    expect(big.status).toBe(413)
    expect(JSON.parse(big.body).error).toBe('payload_too_large')
    const mid = await send('POST', '/auth/refresh', { 'content-type': 'application/json' }, JSON.stringify({ refresh_token: 'A'.repeat(8 * 1024) }))
    expect(mid.status).toBe(400)
    expect(JSON.parse(mid.body).error).toBe('invalid_request')
  })

  it('a malformed request line: 400 invalid_request in the usual shape', async () => {
    const res = await new Promise<string>((resolve) => {
      const sock = net.connect((t.app.server.address() as AddressInfo).port, '127.0.0.1', () => sock.write('GARBAGE\r\n\r\n'))
      let data = ''
      sock.on('data', (c) => (data += c))
      sock.on('end', () => resolve(data))
    })
    expect(res).toMatch(/^HTTP\/1.1 400/)
    expect(JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)).error).toBe('invalid_request')
  })
})
