// Cross-site request forgery defence for the cookie transport, as a pure decision.
//
// A state-changing request that a browser could authenticate with ambient cookies must prove
// it comes from our own pages:
//   1. it carries `X-Auth-Transport: cookie`: a cross-site form cannot set a header, and a
//      cross-site fetch that sets one needs a CORS preflight, which only allowlisted origins
//      pass;
//   2. when the browser says where it comes from (Origin, Sec-Fetch-Site), that is this
//      server's own origin or one on the CORS allowlist.
// Bearer requests are not affected: a browser never attaches an Authorization header on its
// own, so they cannot be forged this way.

export interface CsrfInput {
  method: string
  transportHeader: string | undefined
  authorization: string | undefined
  /** any of our auth cookies came with the request */
  hasAuthCookie: boolean
  origin: string | undefined
  secFetchSite: string | undefined
  /** scheme://host[:port] of this server as the client addressed it */
  selfOrigin: string
  allowedOrigins: ReadonlySet<string>
}

export type CsrfVerdict = { ok: true } | { ok: false; reason: string }

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const OK: CsrfVerdict = { ok: true }

export function checkCsrf(i: CsrfInput): CsrfVerdict {
  if (SAFE_METHODS.has(i.method)) return OK
  const cookieMode = i.transportHeader === 'cookie'
  if (!cookieMode) {
    // With a Bearer header the cookies are not what authenticates the request.
    if (i.authorization !== undefined || !i.hasAuthCookie) return OK
    return { ok: false, reason: 'a cookie-authenticated request must send X-Auth-Transport: cookie' }
  }
  if (i.origin !== undefined) {
    if (i.origin === i.selfOrigin || i.allowedOrigins.has(i.origin)) return OK
    return { ok: false, reason: 'the request comes from an origin that is not allowed' }
  }
  // Browsers send Origin on cross-site POSTs; a cross-site fetch metadata without one is
  // not something a legitimate page produces.
  if (i.secFetchSite === 'cross-site' || i.secFetchSite === 'same-site') {
    return { ok: false, reason: 'cross-site request without an allowed Origin' }
  }
  return OK
}
