// The SDK's error codes come from the server's catalogue (src/errors.ts) through a generated
// file, never from a copy: these fail when that file is stale, and when a code the SDK acts
// on is not one the server can send.
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it, vi } from 'vitest'
import {
  AuthError,
  DEFINITIVE_REFRESH_ERRORS,
  ERROR_CODES,
  SESSION_OVER_ERRORS,
  createAuthClient,
  isErrorCode,
  type AuthErrorCode,
  type ErrorCode,
} from '../../client/src/index.js'
import { ERROR_CATALOGUE } from '../../src/errors.js'
import { ERROR_CODES_FILE, renderErrorCodes } from '../../scripts/gen-client-errors.js'
import { FakeApi, FakeHub, json, tick } from './fakes.js'

// Compile-time half, checked by `npm run typecheck`: the SDK's code types are the server's.
const _serverCodesAreTheSdks: ErrorCode[] = Object.keys(ERROR_CATALOGUE) as Array<keyof typeof ERROR_CATALOGUE>
// @ts-expect-error a code the server does not have is not an ErrorCode
const _unknown: AuthErrorCode = 'no_such_code'
void _serverCodesAreTheSdks
void _unknown

describe('generated error codes', () => {
  it('client/src/error-codes.ts is what the generator makes of src/errors.ts now', () => {
    expect(existsSync(ERROR_CODES_FILE), `${ERROR_CODES_FILE} is missing: run npm run build:client`).toBe(true)
    const onDisk = readFileSync(ERROR_CODES_FILE, 'utf8')
    expect(onDisk, 'client/src/error-codes.ts is stale: run npm run build:client').toBe(renderErrorCodes(ERROR_CATALOGUE))
  })

  it('ERROR_CODES lists exactly the catalogue, in its order', () => {
    expect([...ERROR_CODES]).toEqual(Object.keys(ERROR_CATALOGUE))
  })

  it('every code the SDK logs out on is in the catalogue; the session-over ones are 401s', () => {
    for (const code of DEFINITIVE_REFRESH_ERRORS) expect(ERROR_CATALOGUE, code).toHaveProperty(code)
    for (const code of SESSION_OVER_ERRORS) expect(ERROR_CATALOGUE[code]?.status, code).toBe(401)
  })

  it('the generator refuses a code it could not write as a plain literal', () => {
    expect(() => renderErrorCodes({ "it's": { status: 400 } })).toThrow(/snake_case/)
  })
})

describe('codes at run time', () => {
  it('a code this SDK does not know becomes http_<status>, the server code kept in the message', async () => {
    const api = new FakeApi()
    api.plan('/auth/login', json(401, { error: 'brand_new_code', error_description: 'Something new.' }))
    const client = createAuthClient({ transport: 'bearer', fetch: api.fetch, crossTab: false })
    const err = (await client.login('ada@example.com', 'whatever').catch((e: unknown) => e)) as AuthError
    expect(err).toBeInstanceOf(AuthError)
    expect(err).toMatchObject({ kind: 'rejected', code: 'http_401', message: 'Something new. (brand_new_code)', status: 401 })
    expect(isErrorCode('brand_new_code')).toBe(false)
    expect(isErrorCode('invalid_credentials')).toBe(true)
  })

  it("another tab's logout reason is passed on only when it is a known code", async () => {
    const api = new FakeApi()
    const hub = new FakeHub()
    const onLogout = vi.fn()
    const client = createAuthClient({ transport: 'cookie', fetch: api.fetch, onLogout, crossTab: { locks: null, channel: hub.channel() } })
    await client.login('ada@example.com', 'correct horse battery')
    const other = hub.channel()
    other.postMessage({ v: 1, tab: 'x', at: Date.now() + 1, type: 'logged-out', since: Date.now() + 1, reason: '<img src=x>' })
    await tick()
    expect(onLogout).toHaveBeenCalledWith({ reason: 'logged_out_elsewhere', remote: true })
  })
})
