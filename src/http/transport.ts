// The two ways tokens travel on the same endpoints.
//
// - Bearer (mobile, servers): tokens in JSON bodies, the access token in `Authorization`.
// - Cookie (browsers): the client opts in per request with `X-Auth-Transport: cookie`; tokens
//   then travel only in httpOnly cookies and never appear in a body. Requiring the header on
//   every cookie-authenticated auth call also means a cross-site form cannot make one (a
//   form cannot set custom headers).
//
// Every read of our cookies goes through this file. A request that carries one of them more
// than once is refused (400 ambiguous_credentials) rather than read: @fastify/cookie keeps
// the first, and a sibling subdomain can plant a cookie of our name (Domain=.example.com, a
// longer Path) that browsers send before ours, which would log the victim into the
// attacker's account at the next refresh. Nothing tells the two copies apart, so there is no
// right one to pick.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CookieSerializeOptions } from '@fastify/cookie'
import { ApiError } from '../errors.js'

export const TRANSPORT_HEADER = 'x-auth-transport'
export interface CookieSettings {
  secure: boolean
  /** the plugin's prefix: the refresh cookie is sent to its routes only */
  refreshPath: string
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

/**
 * How many times a cookie named `name` occurs in a Cookie header. Names are read exactly as
 * the `cookie` package (under @fastify/cookie) reads them: each `;`-separated pair with an
 * `=`, its name trimmed of spaces and tabs, never decoded; so every copy the parser could
 * have chosen is counted. Node joins repeated Cookie header lines with "; " before this.
 */
export function countCookie(header: string | undefined, name: string): number {
  return cookieValues(header, name).length
}

/**
 * Every value of the cookie `name` in a Cookie header, read as the `cookie` package reads one
 * (trimmed, unquoted, percent-decoded when it can be). Read from the raw header, so the
 * access cookie is found on a host's route whether or not the host registered @fastify/cookie.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return []
  const values: string[] = []
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1 || pair.slice(0, eq).replace(/^[ \t]+|[ \t]+$/g, '') !== name) continue
    let value = pair.slice(eq + 1).replace(/^[ \t]+|[ \t]+$/g, '')
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value)
      } catch {
        // left as sent, as the cookie package does
      }
    }
    values.push(value)
  }
  return values
}

/**
 * The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 7235
 * §2.1), or '' for any other header, which the verifier refuses as invalid_token. Its
 * characters are checked where it is verified (isCompactJws), not here: a token seen before
 * is only compared with one already verified, and a pattern run over its whole text cost
 * the cached path half a microsecond per request.
 */
export function bearerToken(header: string): string {
  return header.length > 7 && header.charCodeAt(6) === 0x20 && header.slice(0, 6).toLowerCase() === 'bearer' ? header.slice(7) : ''
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

  /**
   * A new access token for a session whose refresh token stays as it is (a re-authentication):
   * in the body for Bearer clients, in the access cookie for browsers.
   */
  sendAccessToken(request: FastifyRequest, reply: FastifyReply, accessToken: string) {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    const base = { token_type: 'Bearer' as const, expires_in: this.settings.accessTtlSec }
    if (!wantsCookies(request)) return { ...base, access_token: accessToken }
    reply.setCookie(this.names.access, accessToken, this.accessCookie(this.settings.accessTtlSec))
    return base
  }

  clearCookies(reply: FastifyReply): void {
    reply
      .clearCookie(this.names.access, this.accessCookie(0))
      .clearCookie(this.names.refresh, this.refreshCookie(0))
  }

  /**
   * Refresh token from a JSON or form body, or (cookie transport only) from its cookie.
   * Throws 400 ambiguous_credentials when it would read a cookie sent more than once.
   */
  readRefreshToken(request: FastifyRequest): string | null {
    const body = request.body as { refresh_token?: unknown } | undefined
    if (body && typeof body.refresh_token === 'string') return body.refresh_token
    if (wantsCookies(request)) return this.readCookie(request, this.names.refresh)
    return null
  }

  /**
   * Access token from `Authorization: Bearer`, else from the access cookie.
   * Throws 400 ambiguous_credentials when it would read a cookie sent more than once.
   */
  readAccessToken(request: FastifyRequest): string | null {
    const header = request.headers.authorization
    if (header !== undefined) return bearerToken(header)
    return this.readCookie(request, this.names.access)
  }

  /**
   * Whether any of our cookies came with the request (the CSRF check's question), counted in
   * the raw header like the reads above, so the check and the reads never disagree about
   * which cookies are there. Copies are not refused here: a request that then reads them is.
   */
  carriesAuthCookie(request: FastifyRequest): boolean {
    const header = request.raw.headers.cookie
    return countCookie(header, this.names.access) > 0 || countCookie(header, this.names.refresh) > 0
  }

  private readCookie(request: FastifyRequest, name: string): string | null {
    const values = cookieValues(request.raw.headers.cookie, name)
    // Refused, not cleared: a Set-Cookie from us clears only our own copy, which would leave
    // the planted one to be read alone on the next request.
    if (values.length > 1) throw new ApiError('ambiguous_credentials')
    return values[0] ?? null
  }

  private accessCookie(maxAgeSec: number): CookieSerializeOptions {
    return { path: '/', httpOnly: true, secure: this.settings.secure, sameSite: 'lax', maxAge: maxAgeSec }
  }

  private refreshCookie(maxAgeSec: number): CookieSerializeOptions {
    // Scoped to the auth endpoints: the browser never sends it with ordinary API calls.
    return { path: this.settings.refreshPath, httpOnly: true, secure: this.settings.secure, sameSite: 'strict', maxAge: maxAgeSec }
  }
}
