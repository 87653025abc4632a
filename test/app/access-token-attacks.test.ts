import { cookieNames } from '../../src/http/transport.js'
// Regression tests for access-token verification on GET /me, over both transports, and on a
// route of a resource server (the plugin for services in other processes, which verifies with
// the keys it fetched from the JWKS) that the same corpus is sent to.
//
// Every forged token here is built by hand with node:crypto (never by a JWT library, which
// may refuse to produce it). Tokens whose only fault is their claims or header are signed
// with the server's REAL key, so the signature is valid and the claim check alone must
// refuse them. A forged token must always get a 401 with a stable error code, never a 500.
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto'
import Fastify, { type FastifyError, type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import resourceServer from '../../src/resource-server/index.js'
import { freePort } from '../../src/db/embedded.js'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/errors.js'
import { buildTestApp, testConfig, type TestApp } from '../helpers/app.js'
import { COOKIE, cookiesOf, loginBearer, register, type BearerSession } from '../helpers/flows.js'

// ---------------------------------------------------------------------------------------
// Hand-made JWS compact serialisation

type Json = Record<string, unknown>

const b64u = (data: string | Buffer) => Buffer.from(data).toString('base64url')
/** a header or payload segment; a string is encoded verbatim (for non-JSON / odd JSON) */
const segment = (part: Json | unknown[] | string | null) => b64u(typeof part === 'string' ? part : JSON.stringify(part))
const signingInput = (header: Json | string, payload: Json | string) => `${segment(header)}.${segment(payload)}`

function decodeSegment(token: string, index: 0 | 1): Json {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8')) as Json
}

/** EdDSA (Ed25519 or Ed448): node signs with the key's own curve when the digest is null */
function signEdDSA(header: Json | string, payload: Json | string, key: KeyObject): string {
  const input = signingInput(header, payload)
  return `${input}.${cryptoSign(null, Buffer.from(input), key).toString('base64url')}`
}

function signHmac(header: Json, payload: Json, secret: string | Buffer, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): string {
  const input = signingInput(header, payload)
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}

function signRS256(header: Json, payload: Json, key: KeyObject): string {
  const input = signingInput(header, payload)
  return `${input}.${cryptoSign('sha256', Buffer.from(input), key).toString('base64url')}`
}

function signES256(header: Json, payload: Json, key: KeyObject): string {
  const input = signingInput(header, payload)
  const sig = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${sig.toString('base64url')}`
}

/** Replaces one character in the middle of a segment with a different base64url character. */
function flipChar(s: string, at = Math.floor(s.length / 2)): string {
  const c = s[at] === 'A' ? 'B' : 'A'
  return s.slice(0, at) + c + s.slice(at + 1)
}

// ---------------------------------------------------------------------------------------
// Requests

interface TransportCase {
  name: string
  /** headers that carry `token` as the access token */
  headers(token: string): Record<string, string>
  /** the app answering: the auth service's /auth/me, or the resource server's /me */
  app?: () => FastifyInstance
}

let t: TestApp
let session: BearerSession
/** claims of the session's real token: a real user and a live (not revoked) session */
let realClaims: Json
let serverKey: KeyObject
const KID = 'test-key'

// Keys an attacker controls. Generated once: RSA generation is the slow part.
const attacker = {
  rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  ed25519: generateKeyPairSync('ed25519').privateKey,
  ed448: generateKeyPairSync('ed448').privateKey,
}

const TRANSPORTS: TransportCase[] = [
  { name: 'Authorization: Bearer', headers: (token) => ({ authorization: `Bearer ${token}` }) },
  { name: 'access cookie', headers: (token) => ({ cookie: `${cookieNames(t.config.cookies.secure).access}=${token}` }) },
  { name: 'Bearer, on a resource server', headers: (token) => ({ authorization: `Bearer ${token}` }), app: () => rs },
]

function me(app: FastifyInstance, headers: Record<string, string>) {
  return app.inject({ method: 'GET', url: app === rs ? '/me' : '/auth/me', headers })
}

// A service in another process, as a team would write it: the resource-server plugin against
// the running auth service, a route answering like /auth/me, errors in the catalogue's shape.
let rs: FastifyInstance
const RS_SECRET = randomBytes(32).toString('base64url')
async function startResourceServer(issuer: string): Promise<FastifyInstance> {
  const app = Fastify()
  app.setErrorHandler((err: FastifyError, _request, reply) => {
    reply.code(err.statusCode ?? 500).send({ error: err.code, error_description: err.message })
  })
  await app.register(resourceServer, { issuer, clientId: 'attacks-rs', clientSecret: RS_SECRET, allowHttp: true })
  app.get('/me', { onRequest: app.authn.authenticate }, async (request) => ({
    id: request.authn!.sub,
    email_verified: request.authn!.email_verified,
    session_id: request.authn!.sid,
  }))
  await app.ready()
  return app
}

// Counted so a run reports how many forged or malformed tokens were tried and refused.
let refused = 0
let clientErrors = 0

function expectRefused(res: LightMyRequestResponse, code: ErrorCode = 'invalid_token') {
  refused++
  expect(res.statusCode, res.body).toBe(401)
  expect(res.headers['content-type']).toMatch(/^application\/json/)
  expect(res.json()).toEqual({ error: code, error_description: ERROR_CATALOGUE[code].description })
}

/** a 4xx with a catalogued `{ error, error_description }` body; never a 5xx */
function expectClientError(res: LightMyRequestResponse) {
  clientErrors++
  expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400)
  expect(res.statusCode, res.body).toBeLessThan(500)
  const body = res.json() as { error: string; error_description: string }
  expect(Object.keys(ERROR_CATALOGUE)).toContain(body.error)
  expect(body).toEqual({ error: body.error, error_description: expect.any(String) })
}

function expectAccepted(res: LightMyRequestResponse) {
  expect(res.statusCode, res.body).toBe(200)
  expect(res.json()).toEqual({ id: realClaims.sub, email_verified: realClaims.email_verified, session_id: realClaims.sid })
}

// ---------------------------------------------------------------------------------------
// Token templates

const now = () => Math.floor(Date.now() / 1000)

function goodHeader(overrides: Json = {}): Json {
  return { alg: 'EdDSA', typ: 'at+jwt', kid: KID, ...overrides }
}

/** the exact claim set the server issues, fresh times and jti; `omit` drops claims */
function goodClaims(overrides: Json = {}, omit: string[] = []): Json {
  const claims: Json = { ...realClaims, iat: now(), exp: now() + 300, jti: randomUUID(), ...overrides }
  for (const k of omit) delete claims[k]
  return claims
}

/** header and claims both right: what a forger would send, on any key */
const withKey = (key: KeyObject, header: Json = {}, claims: Json = {}) => signEdDSA(goodHeader(header), goodClaims(claims), key)

/** [name, case] rows, so test names print in full and unquoted */
const named = <T extends { name: string }>(rows: T[]) => rows.map((row) => [row.name, row] as [string, T])

interface TokenCase {
  name: string
  token: () => string
}

beforeAll(async () => {
  const port = await freePort()
  t = await buildTestApp({ env: { HOST: '127.0.0.1', PORT: String(port), OAUTH_CLIENTS: JSON.stringify([{ client_id: 'attacks-rs', client_secret: RS_SECRET }]) } })
  await t.app.listen({ host: '127.0.0.1', port })
  rs = await startResourceServer(t.config.jwt.issuer)
  serverKey = createPrivateKey(t.config.jwt.key.signKey)
  session = await loginBearer(t.app)
  realClaims = decodeSegment(session.accessToken, 1)
  // Its feed has synced (before that, even a good token is answered 503).
  await vi.waitFor(async () => expect((await me(rs, { authorization: `Bearer ${session.accessToken}` })).statusCode).toBe(200), { timeout: 5000 })
})
afterAll(async () => {
  await rs?.close()
  await t?.close()
})
afterAll(() => console.info(`[attacks] ${refused} forged or malformed tokens refused with 401 invalid_token, ${clientErrors} malformed Authorization headers answered 4xx`))

// ---------------------------------------------------------------------------------------

describe('test setup', () => {
  it('uses an Ed25519 key with kid test-key and unprefixed cookie names', () => {
    expect(t.config.jwt.key.algorithm).toBe('EdDSA')
    expect(t.config.jwt.key.kid).toBe(KID)
    expect(createPublicKey(t.config.jwt.key.verifyKey).asymmetricKeyType).toBe('ed25519')
    expect(cookieNames(t.config.cookies.secure).access).toBe('access_token')
  })

  it('the server issues tokens with exactly the header and claims the forgeries imitate', () => {
    expect(decodeSegment(session.accessToken, 0)).toEqual(goodHeader())
    expect(Object.keys(realClaims).sort()).toEqual(['amr', 'aud', 'auth_time', 'client_id', 'email_verified', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub'])
    expect(realClaims).toMatchObject({ iss: t.config.jwt.issuer, aud: t.config.jwt.audience, client_id: 'web', amr: ['pwd'] })
  })
})

describe.each(named(TRANSPORTS))('GET /me over %s', (_name, transport) => {
  const send = (token: string) => me(transport.app?.() ?? t.app, transport.headers(token))

  describe('controls', () => {
    it('a token the server issued is accepted', async () => {
      expectAccepted(await send(session.accessToken))
    })

    it('a token minted here with the server key and the right header and claims is accepted (the forging helpers are sound)', async () => {
      expectAccepted(await send(withKey(serverKey)))
    })
  })

  describe('tampering with an issued token', () => {
    const cases: TokenCase[] = [
      {
        name: 'payload changed to another subject, signature kept',
        token: () => {
          const [h, , s] = session.accessToken.split('.')
          return `${h}.${segment({ ...realClaims, sub: randomUUID() })}.${s}`
        },
      },
      {
        name: 'payload changed to a later exp, signature kept',
        token: () => {
          const [h, , s] = session.accessToken.split('.')
          return `${h}.${segment({ ...realClaims, exp: (realClaims.exp as number) + 86_400 })}.${s}`
        },
      },
      {
        name: 'one character of the signature changed',
        token: () => {
          const [h, p, s] = session.accessToken.split('.')
          return `${h}.${p}.${flipChar(s!)}`
        },
      },
      {
        name: 'one character of the payload changed',
        token: () => {
          const [h, p, s] = session.accessToken.split('.')
          return `${h}.${flipChar(p!, 10)}.${s}`
        },
      },
      {
        name: 'signature truncated',
        token: () => session.accessToken.slice(0, -10),
      },
      {
        name: 'signature removed (trailing dot kept)',
        token: () => session.accessToken.slice(0, session.accessToken.lastIndexOf('.') + 1),
      },
      {
        name: 'signature of another valid token spliced on',
        token: () => {
          const other = withKey(serverKey)
          const [h, p] = session.accessToken.split('.')
          return `${h}.${p}.${other.split('.')[2]}`
        },
      },
      {
        name: 'header changed (typ dropped), signature kept',
        token: () => {
          const [, p, s] = session.accessToken.split('.')
          return `${segment({ alg: 'EdDSA', kid: KID })}.${p}.${s}`
        },
      },
      {
        name: 'signature zeroed',
        token: () => {
          const [h, p] = session.accessToken.split('.')
          return `${h}.${p}.${b64u(Buffer.alloc(64))}`
        },
      },
    ]
    it.each(named(cases))('%s → 401', async (_name, { token }) => {
      expectRefused(await send(token()))
    })
  })

  describe('alg: none', () => {
    const unsigned = (alg: string, trailingDot: boolean, extra = '') =>
      `${signingInput(goodHeader({ alg }), goodClaims())}${trailingDot ? '.' : ''}${extra}`
    const cases: TokenCase[] = [
      { name: 'alg none with a trailing dot', token: () => unsigned('none', true) },
      { name: 'alg none without a trailing dot', token: () => unsigned('none', false) },
      { name: 'alg None', token: () => unsigned('None', true) },
      { name: 'alg NONE', token: () => unsigned('NONE', true) },
      { name: 'alg nOnE', token: () => unsigned('nOnE', true) },
      { name: 'alg none with a junk signature', token: () => unsigned('none', true, b64u(randomBytes(64))) },
      {
        name: 'alg none carrying the signature of a real token',
        token: () => {
          const [, p, s] = session.accessToken.split('.')
          const header = { ...decodeSegment(session.accessToken, 0), alg: 'none' }
          return `${segment(header)}.${p}.${s}`
        },
      },
      { name: 'alg empty string', token: () => unsigned('', true) },
      { name: 'no alg at all', token: () => `${segment({ typ: 'at+jwt', kid: KID })}.${segment(goodClaims())}.` },
    ]
    it.each(named(cases))('%s → 401', async (_name, { token }) => {
      expectRefused(await send(token()))
    })
  })

  describe('HS256 signed with the server public key as the HMAC secret (algorithm confusion)', () => {
    const hs = (secret: () => string | Buffer) => () => signHmac(goodHeader({ alg: 'HS256' }), goodClaims(), secret())
    const pem = () => t.config.jwt.key.verifyKey
    const der = () => createPublicKey(t.config.jwt.key.verifyKey).export({ type: 'spki', format: 'der' })
    const jwk = () => createPublicKey(t.config.jwt.key.verifyKey).export({ format: 'jwk' }) as Json
    const rawKey = () => Buffer.from(jwk().x as string, 'base64url')
    const cases: TokenCase[] = [
      { name: 'PEM string as published', token: hs(() => pem()) },
      { name: 'PEM with a leading newline', token: hs(() => `\n${pem()}`) },
      { name: 'PEM with leading spaces', token: hs(() => `   ${pem()}`) },
      { name: 'PEM with leading tab, CR and LF', token: hs(() => `\t\r\n${pem()}`) },
      { name: 'PEM with a leading BOM', token: hs(() => `\uFEFF${pem()}`) },
      { name: 'PEM with a leading NUL byte', token: hs(() => `\0${pem()}`) },
      { name: 'PEM with leading junk text', token: hs(() => `key: ${pem()}`) },
      { name: 'PEM without its trailing newline', token: hs(() => pem().trimEnd()) },
      { name: 'PEM with an extra trailing newline', token: hs(() => `${pem()}\n`) },
      { name: 'PEM with CRLF line endings', token: hs(() => pem().replace(/\n/g, '\r\n')) },
      { name: 'PEM with escaped \\n line breaks (as in a .env file)', token: hs(() => pem().replace(/\n/g, '\\n')) },
      { name: 'PEM as a Buffer', token: hs(() => Buffer.from(pem())) },
      { name: 'public JWK JSON string', token: hs(() => JSON.stringify(jwk())) },
      { name: 'published JWK JSON string (with kid, alg, use)', token: hs(() => JSON.stringify(t.config.jwt.key.jwk)) },
      { name: 'pretty-printed JWK JSON', token: hs(() => JSON.stringify(jwk(), null, 2)) },
      { name: 'JWKS document JSON', token: hs(() => JSON.stringify({ keys: [t.config.jwt.key.jwk] })) },
      { name: 'raw 32-byte public key, base64url', token: hs(() => jwk().x as string) },
      { name: 'raw 32-byte public key, standard base64', token: hs(() => rawKey().toString('base64')) },
      { name: 'raw 32-byte public key, hex', token: hs(() => rawKey().toString('hex')) },
      { name: 'raw 32-byte public key, bytes', token: hs(() => rawKey()) },
      { name: 'DER SPKI, base64', token: hs(() => der().toString('base64')) },
      { name: 'DER SPKI, base64 without padding', token: hs(() => der().toString('base64').replace(/=+$/, '')) },
      { name: 'DER SPKI, base64url', token: hs(() => der().toString('base64url')) },
      { name: 'DER SPKI, bytes', token: hs(() => der()) },
      { name: 'the key id', token: hs(() => KID) },
      { name: 'an empty secret', token: hs(() => '') },
    ]
    it.each(named(cases))('%s → 401', async (_name, { token }) => {
      expectRefused(await send(token()))
    })

    it('the same confusion with HS384 and HS512 → 401', async () => {
      for (const [alg, hash] of [['HS384', 'sha384'], ['HS512', 'sha512']] as const) {
        expectRefused(await send(signHmac(goodHeader({ alg }), goodClaims(), pem(), hash)))
      }
    })

    it('the JWKS endpoint serves that very key (so the attacker has it)', async () => {
      const res = await t.app.inject({ url: '/auth/.well-known/jwks.json' })
      expect(res.json()).toEqual({ keys: [t.config.jwt.key.jwk] })
      expect((res.json().keys[0] as Json).x).toBe(jwk().x)
      // and the raw JWKS body as a secret is refused too
      expectRefused(await send(signHmac(goodHeader({ alg: 'HS256' }), goodClaims(), res.body)))
    })
  })

  describe('other algorithms and other keys', () => {
    const cases: TokenCase[] = [
      {
        name: 'RS256 signed with a fresh RSA key, right kid and claims',
        token: () => signRS256(goodHeader({ alg: 'RS256' }), goodClaims(), attacker.rsa),
      },
      {
        name: 'RS256 carrying its own key in a jwk header',
        token: () =>
          signRS256(
            goodHeader({ alg: 'RS256', jwk: createPublicKey(attacker.rsa).export({ format: 'jwk' }) }),
            goodClaims(),
            attacker.rsa,
          ),
      },
      {
        name: 'ES256 signed with a fresh P-256 key, right kid and claims',
        token: () => signES256(goodHeader({ alg: 'ES256' }), goodClaims(), attacker.ec),
      },
      {
        name: 'EdDSA signed by a different Ed25519 key with the same kid',
        token: () => withKey(attacker.ed25519),
      },
      {
        name: 'EdDSA by a different Ed25519 key carrying that key in a jwk header',
        token: () =>
          withKey(attacker.ed25519, { jwk: { ...createPublicKey(attacker.ed25519).export({ format: 'jwk' }), kid: KID } }),
      },
      {
        name: 'EdDSA by a different Ed25519 key pointing jku and x5u at an attacker',
        token: () => withKey(attacker.ed25519, { jku: 'http://evil.example/jwks', x5u: 'http://evil.example/cert' }),
      },
      {
        name: 'EdDSA signed by an Ed448 key with the same kid',
        token: () => withKey(attacker.ed448),
      },
      {
        name: 'the server key under alg "Ed25519" (not the pinned EdDSA)',
        token: () => withKey(serverKey, { alg: 'Ed25519' }),
      },
      {
        name: 'the server key under alg "eddsa" (case variant)',
        token: () => withKey(serverKey, { alg: 'eddsa' }),
      },
      {
        name: 'the server key with a crit header naming an unknown extension',
        token: () => withKey(serverKey, { crit: ['exp-policy'], 'exp-policy': 1 }),
      },
    ]
    it.each(named(cases))('%s → 401', async (_name, { token }) => {
      expectRefused(await send(token()))
    })
  })

  describe('key id', () => {
    const kids: Array<[string, unknown]> = [
      ['unknown kid', 'other-key'],
      ['kid with a different case', 'TEST-KEY'],
      ['kid with a trailing space', `${KID} `],
      ['kid with a trailing NUL', `${KID}\0`],
      ['empty kid', ''],
      ['path traversal kid', '../../etc/passwd'],
      ['SQL injection kid', "' OR 1=1 --"],
      ['URL kid', 'http://evil.example/jwks'],
      ['numeric kid', 1],
      ['array kid', [KID]],
      ['object kid', { toString: KID }],
      ['null kid', null],
    ]
    it.each(kids)('%s signed with the REAL key → 401', async (_name, kid) => {
      expectRefused(await send(withKey(serverKey, { kid })))
    })

    it('missing kid signed with the REAL key → 401', async () => {
      const header = goodHeader()
      delete header.kid
      expectRefused(await send(signEdDSA(header, goodClaims(), serverKey)))
    })

    it.each(kids)('%s signed with an attacker key → 401', async (_name, kid) => {
      expectRefused(await send(withKey(attacker.ed25519, { kid })))
    })
  })

  describe('typ', () => {
    it.each([
      ['typ JWT', 'JWT'],
      ['typ jwt', 'jwt'],
      ['typ of a refresh token', 'rt+jwt'],
      ['typ as a number', 1],
      ['typ null', null],
      ['typ as an array', ['at+jwt']],
    ])('%s signed with the REAL key → 401', async (_name, typ) => {
      expectRefused(await send(withKey(serverKey, { typ })))
    })

    it('missing typ signed with the REAL key → 401', async () => {
      const header = goodHeader()
      delete header.typ
      expectRefused(await send(signEdDSA(header, goodClaims(), serverKey)))
    })

    // RFC 9068 §4: a resource server accepts typ "at+jwt" or "application/at+jwt" and refuses
    // any other value. typ is a media type (RFC 7515 §4.1.9), and media types compare
    // case-insensitively (RFC 2045 §5.1, as RFC 8725 §3.11 recalls), so every casing of
    // those two is the same typ. Nothing else is: no parameters, no whitespace, no other
    // prefix, no look-alike characters.
    it.each([
      ['upper case', 'AT+JWT'],
      ['mixed case', 'At+Jwt'],
      ['with the application/ prefix', 'application/at+jwt'],
      ['with the prefix, upper case', 'APPLICATION/AT+JWT'],
      ['with the prefix, mixed case', 'Application/aT+jWt'],
    ])('typ %s (%s) signed with the REAL key → 200', async (_name, typ) => {
      expectAccepted(await send(withKey(serverKey, { typ })))
    })

    it.each([
      ['a leading space', ' at+jwt'],
      ['a trailing space', 'at+jwt '],
      ['a trailing newline', 'at+jwt\n'],
      ['a trailing NUL', 'at+jwt\u0000'],
      ['a media-type parameter', 'application/at+jwt; charset=utf-8'],
      ['a space after the prefix', 'application/ at+jwt'],
      ['the prefix twice', 'application/application/at+jwt'],
      ['another top-level type', 'text/at+jwt'],
      ['the prefix without its slash', 'applicationat+jwt'],
      ['the generic JWT media type', 'application/jwt'],
      ['full-width look-alike letters', 'ＡＴ+ＪＷＴ'],
      ['the prefix alone', 'application/'],
      ['an empty string', ''],
    ])('typ with %s (%j) signed with the REAL key → 401', async (_name, typ) => {
      expectRefused(await send(withKey(serverKey, { typ })))
    })
  })

  describe('claims, signed with the REAL key', () => {
    it('expired → 401 token_expired', async () => {
      expectRefused(await send(withKey(serverKey, {}, { iat: now() - 1000, exp: now() - 10 })), 'token_expired')
    })

    it('expired long ago → 401 token_expired', async () => {
      expectRefused(await send(withKey(serverKey, {}, { iat: 1_000_000, exp: 1_000_900 })), 'token_expired')
    })

    it('expired AND signed by another key → 401 invalid_token (the signature is judged first)', async () => {
      expectRefused(await send(withKey(attacker.ed25519, {}, { iat: now() - 1000, exp: now() - 10 })), 'invalid_token')
    })

    const cases: TokenCase[] = [
      { name: 'not yet valid (nbf in the future)', token: () => withKey(serverKey, {}, { nbf: now() + 3600 }) },
      { name: 'wrong iss', token: () => withKey(serverKey, {}, { iss: 'https://evil.example' }) },
      { name: 'iss in a different case', token: () => withKey(serverKey, {}, { iss: t.config.jwt.issuer.toUpperCase() }) },
      { name: 'iss as an array holding the right issuer', token: () => withKey(serverKey, {}, { iss: [t.config.jwt.issuer] }) },
      { name: 'wrong aud', token: () => withKey(serverKey, {}, { aud: 'some-other-api' }) },
      {
        name: 'aud as an array holding the right audience and another',
        token: () => withKey(serverKey, {}, { aud: [t.config.jwt.audience, 'some-other-api'] }),
      },
      { name: 'aud as an array holding only the right audience', token: () => withKey(serverKey, {}, { aud: [t.config.jwt.audience] }) },
      ...['iss', 'aud', 'exp', 'sub', 'sid', 'jti', 'iat', 'email_verified'].map((claim) => ({
        name: `missing ${claim}`,
        token: () => signEdDSA(goodHeader(), goodClaims({}, [claim]), serverKey),
      })),
      // A forger would most want to say the address is proved; a non-boolean is not our claim.
      { name: 'email_verified as the string "true"', token: () => withKey(serverKey, {}, { email_verified: 'true' }) },
      { name: 'email_verified as 1', token: () => withKey(serverKey, {}, { email_verified: 1 }) },
      { name: 'extra claim (role: admin)', token: () => withKey(serverKey, {}, { role: 'admin' }) },
      { name: 'extra claim (scope)', token: () => withKey(serverKey, {}, { scope: 'admin' }) },
      { name: 'extra claim (nbf in the past)', token: () => withKey(serverKey, {}, { nbf: now() - 60 }) },
      {
        name: 'extra claim named __proto__',
        token: () => {
          const claims = JSON.stringify(goodClaims()).replace(/^\{/, '{"__proto__":{"admin":true},')
          return signEdDSA(goodHeader(), claims, serverKey)
        },
      },
      { name: 'sub as a number', token: () => withKey(serverKey, {}, { sub: 42 }) },
      { name: 'sub empty', token: () => withKey(serverKey, {}, { sub: '' }) },
      { name: 'sid null', token: () => withKey(serverKey, {}, { sid: null }) },
      { name: 'email as an object', token: () => withKey(serverKey, {}, { email: { $ne: null } }) },
      { name: 'email empty', token: () => withKey(serverKey, {}, { email: '' }) },
      { name: 'client_id as a number', token: () => withKey(serverKey, {}, { client_id: 7 }) },
      { name: 'exp as a string', token: () => withKey(serverKey, {}, { exp: String(now() + 300) }) },
      { name: 'exp as a fraction', token: () => withKey(serverKey, {}, { exp: now() + 300.5 }) },
      { name: 'iat as a string', token: () => withKey(serverKey, {}, { iat: String(now()) }) },
      { name: 'payload is a JSON array', token: () => signEdDSA(goodHeader(), JSON.stringify([goodClaims()]), serverKey) },
      { name: 'payload is JSON null', token: () => signEdDSA(goodHeader(), 'null', serverKey) },
      { name: 'payload is a JSON string', token: () => signEdDSA(goodHeader(), '"hello"', serverKey) },
      { name: 'payload is not JSON', token: () => signEdDSA(goodHeader(), 'not json', serverKey) },
      { name: 'header is a JSON array', token: () => signEdDSA(JSON.stringify([goodHeader()]), goodClaims(), serverKey) },
      { name: 'header is not JSON', token: () => signEdDSA('not json', goodClaims(), serverKey) },
    ]
    it.each(named(cases))('%s → 401', async (_name, { token }) => {
      expectRefused(await send(token()))
    })
  })

  describe('not an access token at all', () => {
    it('a refresh token used as an access token → 401', async () => {
      expectRefused(await send(session.refreshToken))
    })

    it('a refresh token in a JWT-shaped wrapper signed with the REAL key → 401', async () => {
      expectRefused(await send(withKey(serverKey, {}, { refresh_token: session.refreshToken })))
    })

    const malformed: Array<[string, () => string]> = [
      ['a random word', () => 'not-a-jwt'],
      ['two segments', () => 'abc.def'],
      ['three junk segments', () => 'a.b.c'],
      ['extra dots (four segments)', () => 'a.b.c.d'],
      ['an issued token with a fourth segment', () => `${session.accessToken}.extra`],
      ['an issued token with a trailing dot', () => `${session.accessToken}.`],
      ['an issued token with a leading dot', () => `.${session.accessToken}`],
      ['only dots', () => '...'],
      ['two dots', () => '..'],
      ['broken base64 in the header', () => `!!!${session.accessToken}`],
      ['broken base64 in the signature', () => `${session.accessToken.slice(0, -4)}$$$$`],
      ['base64 padding on the signature', () => `${session.accessToken}==`],
      // Node's base64 decoder skips what it does not know; fast-jwt and isCompactJws each refuse these.
      ['a space inside a valid signature', () => `${session.accessToken.slice(0, -8)} ${session.accessToken.slice(-8)}`],
      ['a tab inside a valid signature', () => `${session.accessToken.slice(0, -8)}\t${session.accessToken.slice(-8)}`],
      ['padding inside a valid signature', () => `${session.accessToken.slice(0, -8)}=${session.accessToken.slice(-8)}`],
      ['standard-base64 characters in the payload', () => session.accessToken.replace(/\.(.)/, '.+/')],
      ['unicode segments', () => 'ünïcødé.tøkên.✓'],
      ['emoji', () => '🔑.🔑.🔑'],
      ['a very long token', () => `${'a'.repeat(8000)}.${'b'.repeat(8000)}.c`],
      ['a JSON object instead of a token', () => '{"alg":"none"}'],
    ]
    it.each(malformed)('%s → 401 invalid_token', async (_name, token) => {
      expectRefused(await send(token()))
    })
  })
})

describe('malformed Authorization headers', () => {
  const values: Array<[string, () => string]> = [
    ['Bearer with no token', () => 'Bearer'],
    ['Bearer with only a space', () => 'Bearer '],
    ['Bearer with only spaces', () => 'Bearer    '],
    ['Bearer with two copies of a valid token', () => `Bearer ${session.accessToken} ${session.accessToken}`],
    ['Bearer with two different tokens', () => `Bearer ${session.accessToken} ${session.refreshToken}`],
    ['Bearer with two tokens joined by a comma', () => `Bearer ${session.accessToken},${session.accessToken}`],
    ['a valid token without any scheme', () => session.accessToken],
    ['Basic credentials', () => `Basic ${b64u('user:password')}`],
    ['another scheme with a valid token', () => `Token ${session.accessToken}`],
    ['Bearer twice', () => `Bearer Bearer ${session.accessToken}`],
    ['unicode after Bearer', () => 'Bearer ünïcødé'],
  ]
  it.each(values)('%s → 4xx, never 500', async (_name, value) => {
    const res = await me(t.app, { authorization: value() })
    expectClientError(res)
    expect(res.statusCode).toBe(401)
  })

  it.each(['bearer', 'BEARER', 'bEaReR'])('the scheme written %s is Bearer (RFC 7235 §2.1: any case) → 200', async (scheme) => {
    expectAccepted(await me(t.app, { authorization: `${scheme} ${session.accessToken}` }))
  })

  it('a forged Bearer token does not fall back to a valid access cookie', async () => {
    const res = await me(t.app, {
      authorization: `Bearer ${withKey(attacker.ed25519)}`,
      cookie: `access_token=${session.accessToken}`,
    })
    expectRefused(res)
  })

  it('an empty access cookie → 401', async () => {
    const res = await me(t.app, { cookie: 'access_token=' })
    expectClientError(res)
    expect(res.statusCode).toBe(401)
  })

  it('a forged first access cookie next to a valid second one: neither is used (400 ambiguous_credentials)', async () => {
    const res = await me(t.app, { cookie: `access_token=${withKey(attacker.ed25519)}; access_token=${session.accessToken}` })
    clientErrors++
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json()).toEqual({ error: 'ambiguous_credentials', error_description: ERROR_CATALOGUE.ambiguous_credentials.description })
  })

  it('the refresh cookie alone does not authenticate /me', async () => {
    const user = await register(t.app)
    const login = await t.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE })
    const jar = cookiesOf(login)
    const res = await me(t.app, { cookie: `refresh_token=${jar.refresh_token!.value}` })
    expectRefused(res, 'unauthorized')
    // the refresh token's value in the access cookie is refused too
    expectRefused(await me(t.app, { cookie: `access_token=${jar.refresh_token!.value}` }))
  })
})

describe('verification failures are not cached', () => {
  // @fastify/jwt's default verify options cache a failure for 10 minutes, keyed by token:
  // a token refused once for a transient reason would keep being refused. Our tokens never
  // carry nbf (the exact-claim check refuses it), so no route can turn such a token into a
  // 200; the proof is the cause of each refusal, as the plugin's verify reports it.
  it('a token refused as not-yet-valid verifies once its nbf has passed', async () => {
    const nbf = now() + 2
    const token = withKey(serverKey, {}, { nbf })
    const causeOf = () => {
      try {
        t.app.authn.verify(token)
      } catch (err) {
        return ((err as { cause?: { code?: string } }).cause?.code ?? 'no verifier error') as string
      }
      return 'accepted'
    }
    for (const transport of TRANSPORTS) expectRefused(await me(t.app, transport.headers(token)))
    expect(causeOf()).toBe('FAST_JWT_INACTIVE')

    await new Promise((resolve) => setTimeout(resolve, nbf * 1000 - Date.now() + 150))

    // still refused: an nbf claim is not one of ours; but the signature and nbf now verify, and
    // the refusal is the claim check's, not a cached failure
    for (const transport of TRANSPORTS) expectRefused(await me(t.app, transport.headers(token)))
    expect(causeOf()).toBe('no verifier error')
  })

  it('an expired token refused once stays refused as expired, not as something else', async () => {
    const token = withKey(serverKey, {}, { iat: now() - 1000, exp: now() - 1 })
    for (let i = 0; i < 3; i++) {
      for (const transport of TRANSPORTS) expectRefused(await me(t.app, transport.headers(token)), 'token_expired')
    }
  })
})

describe('HS256 configuration', () => {
  const hsSecret = randomBytes(36).toString('base64url') // 48 characters
  let hs: TestApp
  let hsSession: BearerSession
  let hsClaims: Json

  beforeAll(async () => {
    const config = testConfig({ JWT_ALGORITHM: 'HS256', JWT_SECRET: hsSecret })
    hs = await buildTestApp({ config })
    hsSession = await loginBearer(hs.app)
    hsClaims = decodeSegment(hsSession.accessToken, 1)
  })
  afterAll(() => hs?.close())

  const hsHeader = (overrides: Json = {}) => ({ alg: 'HS256', typ: 'at+jwt', kid: hs.config.jwt.key.kid, ...overrides })
  const hsFresh = (overrides: Json = {}) => ({ ...hsClaims, iat: now(), exp: now() + 300, jti: randomUUID(), ...overrides })

  it('the app signs HS256 tokens with its secret, and accepts them over both transports', async () => {
    expect(hs.config.jwt.key.algorithm).toBe('HS256')
    expect(decodeSegment(hsSession.accessToken, 0)).toEqual(hsHeader())
    const [h, p, s] = hsSession.accessToken.split('.')
    expect(createHmac('sha256', hsSecret).update(`${h}.${p}`).digest('base64url')).toBe(s)
    for (const transport of TRANSPORTS) {
      const res = await me(hs.app, transport.headers(hsSession.accessToken))
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json().session_id).toBe(hsClaims.sid)
    }
  })

  it('the JWKS endpoint publishes nothing', async () => {
    expect((await hs.app.inject({ url: '/auth/.well-known/jwks.json' })).json()).toEqual({ keys: [] })
  })

  it('a token minted here with the right secret is accepted (the helper is sound)', async () => {
    const res = await me(hs.app, { authorization: `Bearer ${signHmac(hsHeader(), hsFresh(), hsSecret)}` })
    expect(res.statusCode, res.body).toBe(200)
  })

  const forgeries: Array<[string, () => string]> = [
    ['an EdDSA token signed by some Ed25519 key', () => signEdDSA(hsHeader({ alg: 'EdDSA' }), hsFresh(), attacker.ed25519)],
    ['an EdDSA token signed by the EdDSA app key', () => signEdDSA(hsHeader({ alg: 'EdDSA' }), hsFresh(), serverKey)],
    ['an unsigned alg none token', () => `${signingInput(hsHeader({ alg: 'none' }), hsFresh())}.`],
    ['HS256 signed with another secret', () => signHmac(hsHeader(), hsFresh(), randomBytes(36).toString('base64url'))],
    ['HS256 signed with an empty secret', () => signHmac(hsHeader(), hsFresh(), '')],
    ['HS512 signed with the right secret (algorithm pinned)', () => signHmac(hsHeader({ alg: 'HS512' }), hsFresh(), hsSecret, 'sha512')],
    ['HS256 with the right secret but a wrong kid', () => signHmac(hsHeader({ kid: 'other' }), hsFresh(), hsSecret)],
    ['HS256 with the right secret but an extra claim', () => signHmac(hsHeader(), hsFresh({ role: 'admin' }), hsSecret)],
  ]
  it.each(forgeries)('refuses %s, over both transports', async (_name, token) => {
    const forged = token()
    for (const transport of TRANSPORTS) expectRefused(await me(hs.app, transport.headers(forged)))
  })

  it('an HS256 token expired → token_expired', async () => {
    const token = signHmac(hsHeader(), hsFresh({ iat: now() - 1000, exp: now() - 10 }), hsSecret)
    expectRefused(await me(hs.app, { authorization: `Bearer ${token}` }), 'token_expired')
  })

  it('the EdDSA app refuses an HS256 token signed with the HS secret of another app', async () => {
    for (const kid of [KID, hs.config.jwt.key.kid]) {
      const forged = signHmac(goodHeader({ alg: 'HS256', kid }), goodClaims(), hsSecret)
      for (const transport of TRANSPORTS) expectRefused(await me(t.app, transport.headers(forged)))
    }
    // the very token the HS256 app issued, too
    for (const transport of TRANSPORTS) expectRefused(await me(t.app, transport.headers(hsSession.accessToken)))
  })

  it("the EdDSA app's issued token is refused by the HS256 app", async () => {
    for (const transport of TRANSPORTS) expectRefused(await me(hs.app, transport.headers(session.accessToken)))
  })
})
