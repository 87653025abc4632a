import { describe, expect, it } from 'vitest'
import { checkCsrf, type CsrfInput } from '../../src/http/csrf.js'

const base: CsrfInput = {
  method: 'POST',
  transportHeader: 'cookie',
  authorization: undefined,
  hasAuthCookie: true,
  origin: undefined,
  secFetchSite: undefined,
  selfOrigin: 'https://auth.example.com',
  allowedOrigins: new Set(['https://app.example.com']),
}
const check = (over: Partial<CsrfInput>) => checkCsrf({ ...base, ...over })

describe('checkCsrf', () => {
  it('lets safe methods through whatever they carry', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      expect(check({ method, transportHeader: undefined, origin: 'https://evil.example' }).ok).toBe(true)
    }
  })

  it('lets a Bearer request through: cookies do not authenticate it', () => {
    expect(check({ transportHeader: undefined, authorization: 'Bearer x', origin: 'https://evil.example' }).ok).toBe(true)
  })

  it('lets a request with no auth cookie and no cookie mode through (nothing ambient to abuse)', () => {
    expect(check({ transportHeader: undefined, hasAuthCookie: false }).ok).toBe(true)
  })

  it('refuses a cookie-carrying POST without the transport header (a cross-site form)', () => {
    const v = check({ transportHeader: undefined, origin: 'https://evil.example', secFetchSite: 'cross-site' })
    expect(v.ok).toBe(false)
    expect(check({ transportHeader: undefined }).ok).toBe(false)
  })

  it('accepts cookie mode from our own origin or an allowlisted one', () => {
    expect(check({ origin: 'https://auth.example.com', secFetchSite: 'same-origin' }).ok).toBe(true)
    expect(check({ origin: 'https://app.example.com', secFetchSite: 'same-site' }).ok).toBe(true)
  })

  it('refuses cookie mode from any other origin, including "null"', () => {
    for (const origin of ['https://evil.example', 'null', 'https://auth.example.com.evil.example', 'http://auth.example.com']) {
      expect(check({ origin }).ok).toBe(false)
    }
  })

  it('refuses cross-site or same-site fetch metadata without an Origin', () => {
    expect(check({ secFetchSite: 'cross-site' }).ok).toBe(false)
    expect(check({ secFetchSite: 'same-site' }).ok).toBe(false)
  })

  it('accepts cookie mode from a non-browser client that sends neither Origin nor fetch metadata', () => {
    expect(check({}).ok).toBe(true)
    expect(check({ secFetchSite: 'none' }).ok).toBe(true)
  })

  it('applies to login in cookie mode too (login CSRF), even without cookies yet', () => {
    expect(check({ hasAuthCookie: false, origin: 'https://evil.example' }).ok).toBe(false)
  })
})
