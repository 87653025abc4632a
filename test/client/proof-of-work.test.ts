// The SDK answers the server's proof-of-work challenge on login by itself: it solves it with
// WebCrypto (globalThis.crypto.subtle, in browsers and in Node 20) and sends the login once
// more with the proof. The fake API checks the proof with the server's own functions.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AuthError, createAuthClient, memoryStorage, solveProofOfWork } from '../../client/src/index.js'
import { leadingZeroBits, proofHash } from '../../src/limits/proof-of-work.js'
import { FakeApi, json } from './fakes.js'

const PASSWORD = 'correct horse battery'

function setup(transport: 'cookie' | 'bearer', bits: number | null = 8) {
  const api = new FakeApi()
  api.proofOfWorkBits = bits
  const storage = memoryStorage()
  const onLogout = vi.fn()
  const client = createAuthClient({ baseUrl: 'http://api.test', transport, fetch: api.fetch, storage, onLogout, sleep: async () => {}, crossTab: false })
  return { api, storage, client }
}

const logins = (api: FakeApi) => api.calls.filter((c) => c.path === '/auth/login')

afterEach(() => {
  vi.unstubAllGlobals()
})

for (const transport of ['cookie', 'bearer'] as const) {
  describe(`${transport} transport`, () => {
    it('a login asked for a proof of work solves it and is sent once more, with the proof', async () => {
      const { api, client, storage } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      expect(client.state).toBe('authenticated')
      const [first, second] = logins(api)
      expect(logins(api)).toHaveLength(2)
      expect(first!.body).toEqual({ email: 'ada@example.com', password: PASSWORD })
      const { proof } = second!.body as { proof: { challenge: string; nonce: string } }
      expect(second!.body).toEqual({ email: 'ada@example.com', password: PASSWORD, proof: { challenge: expect.any(String), nonce: expect.any(String) } })
      expect(leadingZeroBits(proofHash(proof.challenge, PASSWORD, proof.nonce))).toBeGreaterThanOrEqual(8)
      if (transport === 'bearer') expect(await storage.get()).not.toBeNull()
      else expect(second!.headers.get('x-auth-transport')).toBe('cookie')
    })

    it('a wrong password with a proof is the usual rejected invalid_credentials', async () => {
      const { api, client } = setup(transport)
      const err = await client.login('ada@example.com', 'wrong password').catch((e: unknown) => e)
      expect(err).toMatchObject({ kind: 'rejected', code: 'invalid_credentials', status: 401 })
      expect(logins(api)).toHaveLength(2)
      expect(client.state).not.toBe('authenticated')
    })
  })
}

describe('limits of the retry', () => {
  it('retries once: a second challenge is thrown as AuthError proof_of_work_required, not solved again', async () => {
    const { api, client } = setup('bearer')
    const challenge = () => json(401, { error: 'proof_of_work_required', error_description: 'x', challenge: 'v1.1.2.3', difficulty: 4 })
    api.plan('/auth/login', challenge(), challenge(), challenge())
    const err = await client.login('ada@example.com', PASSWORD).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthError)
    expect(err).toMatchObject({ kind: 'rejected', code: 'proof_of_work_required', status: 401 })
    expect(logins(api)).toHaveLength(2)
  })

  it('a difficulty no client could solve in reasonable time is not attempted', async () => {
    const { api, client } = setup('bearer')
    const digest = vi.spyOn(globalThis.crypto.subtle, 'digest')
    api.plan('/auth/login', json(401, { error: 'proof_of_work_required', error_description: 'x', challenge: 'v1.1.2.3', difficulty: 40 }))
    const err = await client.login('ada@example.com', PASSWORD).catch((e: unknown) => e)
    expect(err).toMatchObject({ kind: 'rejected', code: 'proof_of_work_required', status: 401 })
    expect(logins(api)).toHaveLength(1)
    expect(digest).not.toHaveBeenCalled()
    digest.mockRestore()
  })

  it('without WebCrypto: a clear AuthError, no crash', async () => {
    const { api, client } = setup('bearer')
    vi.stubGlobal('crypto', undefined)
    const err = await client.login('ada@example.com', PASSWORD).catch((e: unknown) => e)
    expect(err).toMatchObject({ kind: 'rejected', code: 'proof_of_work_unsupported' })
    expect(logins(api)).toHaveLength(1)
  })

  it('a login that needs no proof is one request, as before', async () => {
    const { api, client } = setup('cookie', null)
    await client.login('ada@example.com', PASSWORD)
    expect(logins(api)).toHaveLength(1)
  })
})

describe('solveProofOfWork', () => {
  it('finds a nonce by the documented rule, NFC-normalising the password', async () => {
    for (const bits of [0, 1, 6, 12]) {
      const nonce = await solveProofOfWork('v1.123.10.abc.def', bits, 'pa\u0308ssword')
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{1,64}$/)
      expect(leadingZeroBits(proofHash('v1.123.10.abc.def', 'pässword', nonce))).toBeGreaterThanOrEqual(bits)
    }
  })

  it('solves the default cap, 16 bits (2^16 hashes on average), and says how long it took', { timeout: 60_000 }, async () => {
    const started = performance.now()
    const nonce = await solveProofOfWork('v1.1.16.x.y', 16, PASSWORD)
    const ms = performance.now() - started
    expect(leadingZeroBits(proofHash('v1.1.16.x.y', PASSWORD, nonce))).toBeGreaterThanOrEqual(16)
    // Printed, not asserted: a shared 2-core machine is no measure of a user's browser.
    console.log(`[pow] 16 bits: ${parseInt(nonce, 36) + 1} hashes in ${Math.round(ms)} ms`)
  })
})
