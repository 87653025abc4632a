// The two ways tokens travel on the same endpoints.
//
// - Bearer (mobile, servers): tokens in JSON bodies, the access token in `Authorization`.
// - Cookie (browsers): the client opts in per request with `X-Auth-Transport: cookie`; tokens
//   then travel only in httpOnly cookies and never appear in a body. Requiring the header on
//   every cookie-authenticated auth call also means a cross-site form cannot make one (a
//   form cannot set custom headers).
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CookieSerializeOptions } from '@fastify/cookie'

export const TRANSPORT_HEADER = 'x-auth-transport'
export const AUTH_PATH = '/auth'

export interface CookieSettings {
  secure: boolean
  accessTtlSec: number
  refreshTtlSec: number
}

export interface CookieNames {
  access: string
  refresh: string
}

// Browsers only accept the __Host-/__Secure- prefixes on Secure cookies, which plain-http
// development cannot set; there the unprefixed names are used instead.
export function cookieNames(secure: boolean): CookieNames {
  return secure
    ? { access: '__Host-access_token', refresh: '__Secure-refresh_token' }
    : { access: 'access_token', refresh: 'refresh_token' }
}

export function wantsCookies(request: FastifyRequest): boolean {
  return request.headers[TRANSPORT_HEADER] === 'cookie'
}

export interface TokenResponse {
  userId: string
  accessToken: string
  refreshToken: string
}

export class Transport {
  readonly names: CookieNames

  constructor(private readonly settings: CookieSettings) {
    this.names = cookieNames(settings.secure)
  }

  /** RFC 6749 §5.1 shape for Bearer clients; cookies and no tokens in the body for browsers. */
  sendTokens(request: FastifyRequest, reply: FastifyReply, tokens: TokenResponse) {
    // Token responses must never be cached by a browser or a proxy (RFC 6749 §5.1).
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    const base = { token_type: 'Bearer' as const, expires_in: this.settings.accessTtlSec }
    if (!wantsCookies(request)) {
      return { ...base, access_token: tokens.accessToken, refresh_token: tokens.refreshToken }
    }
    reply
      .setCookie(this.names.access, tokens.accessToken, this.accessCookie(this.settings.accessTtlSec))
      .setCookie(this.names.refresh, tokens.refreshToken, this.refreshCookie(this.settings.refreshTtlSec))
    return base
  }

  clearCookies(reply: FastifyReply): void {
    reply
      .clearCookie(this.names.access, this.accessCookie(0))
      .clearCookie(this.names.refresh, this.refreshCookie(0))
  }

  /** Refresh token from a JSON or form body, or (cookie transport only) from its cookie. */
  readRefreshToken(request: FastifyRequest): string | null {
    const body = request.body as { refresh_token?: unknown } | undefined
    if (body && typeof body.refresh_token === 'string') return body.refresh_token
    if (wantsCookies(request)) return request.cookies[this.names.refresh] ?? null
    return null
  }

  /** Access token from `Authorization: Bearer`, else from the access cookie. */
  readAccessToken(request: FastifyRequest): string | null {
    const header = request.headers.authorization
    if (header !== undefined) {
      const m = /^Bearer ([^\s]+)$/i.exec(header)
      return m ? m[1]! : ''
    }
    return request.cookies[this.names.access] ?? null
  }

  private accessCookie(maxAgeSec: number): CookieSerializeOptions {
    return { path: '/', httpOnly: true, secure: this.settings.secure, sameSite: 'lax', maxAge: maxAgeSec }
  }

  private refreshCookie(maxAgeSec: number): CookieSerializeOptions {
    // Scoped to the auth endpoints: the browser never sends it with ordinary API calls.
    return { path: AUTH_PATH, httpOnly: true, secure: this.settings.secure, sameSite: 'strict', maxAge: maxAgeSec }
  }
}
