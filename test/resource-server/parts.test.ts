// The resource server's parts on their own: the event-stream parser, the key set fetched from
// the JWKS (only Ed25519 keys for EdDSA, refetched for an unknown kid at most once per
// interval), and the revoked sessions it holds (for the retention the feed states).
import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SseParser, type SseEvent } from '../../src/resource-server/sse.js'
import { RemoteKeys } from '../../src/resource-server/keys.js'
import { Revocations } from '../../src/resource-server/revocations.js'

describe('SseParser', () => {
  const parse = (chunks: string[]) => {
    const events: SseEvent[] = []
    const p = new SseParser((e) => events.push(e))
    for (const c of chunks) p.push(c)
    return { events, p }
  }

  it('dispatches on a blank line; joins data lines; keeps the last id; ignores comments and unknown fields', () => {
    const { events, p } = parse(['retry: 1000\n\n: a comment\nevent: set\ndata: a\ndata: b\nbogus: x\n\n', 'event: sync\nid: 42\ndata: {}\n\n'])
    expect(events).toEqual([
      { event: 'set', data: 'a\nb', id: undefined },
      { event: 'sync', data: '{}', id: '42' },
    ])
    expect([p.lastEventId, p.retryMs]).toEqual(['42', 1000])
  })

  it('lines may end in CRLF or CR, split anywhere across chunks', () => {
    // (A CR that ends what has arrived may be half a CRLF: the stream's next byte says.)
    const text = 'event: set\r\ndata: x\r\n\r\nevent: sync\rid: 7\rdata: y\r\r\n'
    for (let cut = 1; cut < text.length; cut++) {
      const { events } = parse([text.slice(0, cut), text.slice(cut)])
      expect(events.map((e) => [e.event, e.data, e.id]), `cut at ${cut}`).toEqual([
        ['set', 'x', undefined],
        ['sync', 'y', '7'],
      ])
    }
  })

  it('an event without data is not dispatched; an id with NUL is ignored', () => {
    const { events, p } = parse(['event: set\n\nid: a\0b\ndata: z\n\n'])
    expect(events).toEqual([{ event: 'message', data: 'z', id: undefined }])
    expect(p.lastEventId).toBeUndefined()
  })

  it('refuses a line that never ends (a stream that is not one)', () => {
    const p = new SseParser(() => {}, 1024)
    expect(() => p.push('x'.repeat(2048))).toThrow(/too long/)
  })
})

describe('RemoteKeys', () => {
  const jwk = (kid: string, extra: Record<string, unknown> = {}) => ({
    ...(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as Record<string, unknown>),
    kid,
    alg: 'EdDSA',
    use: 'sig',
    ...extra,
  })
  const quiet = { warn() {}, info() {} }
  function keysWith(documents: unknown[], minRefetchIntervalMs = 60_000) {
    let served = 0
    const keys = new RemoteKeys({
      jwksUri: 'https://auth.example.com/auth/.well-known/jwks.json',
      issuer: 'https://auth.example.com/auth',
      audience: 'fastify-auth-api',
      minRefetchIntervalMs,
      get: async () => documents[Math.min(served++, documents.length - 1)],
      log: quiet,
    })
    return keys
  }

  it('takes only Ed25519 keys for EdDSA, public, for signing, with a kid', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' })
    const withPrivate = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
    const keys = keysWith([
      {
        keys: [
          jwk('good'),
          jwk('good'), // a second key under a used kid names nothing for sure: the first stays
          { ...rsa, kid: 'rsa', alg: 'RS256' },
          jwk('hs', { alg: 'HS256' }),
          jwk('enc', { use: 'enc' }),
          { ...withPrivate, kid: 'private', alg: 'EdDSA' },
          jwk('', {}),
          { kty: 'oct', k: 'c2VjcmV0', kid: 'oct', alg: 'HS256' },
          'not a key',
        ],
      },
    ])
    await keys.refresh()
    expect(keys.kids).toEqual(['good'])
  })

  it('an unknown kid refetches the JWKS at most once per interval, however many forged kids arrive', async () => {
    const keys = keysWith([{ keys: [jwk('k1')] }, { keys: [jwk('k1'), jwk('k2')] }])
    await keys.refresh()
    expect(keys.fetches).toBe(1)
    const found = await Promise.all(Array.from({ length: 100 }, (_, i) => keys.find(`forged-${i}`)))
    expect(found.every((k) => k === undefined)).toBe(true)
    // The first unknown kid was within the interval of the initial fetch: no request at all.
    expect(keys.fetches).toBe(1)
  })

  it('past the interval, an unknown kid fetches once and finds a rotated key; the forged kids after it do not', async () => {
    const keys = keysWith([{ keys: [jwk('k1')] }, { keys: [jwk('k2'), jwk('k1')] }], 0)
    await keys.refresh()
    expect(await keys.find('k2')).toMatchObject({ kid: 'k2' })
    expect(keys.fetches).toBe(2)
    const slow = keysWith([{ keys: [jwk('k1')] }, { keys: [jwk('k2')] }], 50)
    await slow.refresh()
    await new Promise((r) => setTimeout(r, 60))
    await Promise.all([slow.find('k2'), slow.find('x'), slow.find('y')])
    expect(slow.fetches).toBe(2)
    expect(slow.kids).toEqual(['k2']) // the set is replaced: a retired key goes with it
  })

  it('a JWKS with no usable key keeps the keys it had', async () => {
    const keys = keysWith([{ keys: [jwk('k1')] }, { keys: [] }])
    await keys.refresh()
    await keys.refresh()
    expect(keys.kids).toEqual(['k1'])
  })
})

describe('Revocations', () => {
  it('holds a session for the retention the feed states, then lets it go', () => {
    let now = 1_000_000
    const r = new Revocations(() => now)
    r.add('s1', now - 1000)
    expect(r.has('s1')).toBe(true) // before the first sync, every entry counts
    r.synced({ cursor: '1', retainMs: 10_000, accessTokenTtlSec: 9 })
    expect(r.has('s1')).toBe(true)
    now += 9_500
    expect(r.has('s1')).toBe(false)
    now += 2_000
    r.synced({ cursor: '2', retainMs: 10_000, accessTokenTtlSec: 9 })
    expect(r.size).toBe(0)
  })

  it('is stale before its first sync and as long as none has come since', () => {
    let now = 0
    const r = new Revocations(() => now)
    expect(r.staleness).toBe(Number.POSITIVE_INFINITY)
    r.synced({ cursor: '1', retainMs: 1000, accessTokenTtlSec: 1 })
    now += 2500
    expect(r.staleness).toBe(2500)
  })

  it('a token living longer than the service issues them would outlast its entry: too long-lived', () => {
    const r = new Revocations()
    expect(r.tooLongLived({ iat: 0, exp: 900 })).toBe(true) // lifetime unknown before a sync
    r.synced({ cursor: '1', retainMs: 907_000, accessTokenTtlSec: 900 })
    expect(r.tooLongLived({ iat: 0, exp: 900 })).toBe(false)
    expect(r.tooLongLived({ iat: 0, exp: 901 })).toBe(true)
  })
})
