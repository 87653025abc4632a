// A revocation feed stream never ends by itself: a shutdown must end it rather than wait for
// it (server/app.ts drain, the plugin's preClose), and its subscriber reconnects elsewhere.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { expect, it } from 'vitest'
import { basicAuthorization } from '../../src/oauth/clients.js'
import { buildTestApp } from '../helpers/app.js'

it('draining a server ends its open feed streams at once, and close() follows', async () => {
  const secret = randomBytes(32).toString('base64url')
  const other = await buildTestApp({ env: { OAUTH_CLIENTS: JSON.stringify([{ client_id: 'gateway', client_secret: secret }]) } })
  await other.app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(other.app.server.address() as AddressInfo).port}/auth/oauth/revocation-feed`
  const res = await fetch(url, { headers: { authorization: basicAuthorization('gateway', secret) } })
  expect(res.status).toBe(200)
  const reader = res.body!.getReader()
  await reader.read()
  const started = Date.now()
  await other.app.drain()
  // the stream has ended
  for (;;) if ((await reader.read()).done) break
  await other.close()
  expect(Date.now() - started).toBeLessThan(5000)
})
