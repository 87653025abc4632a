// Every error code a client can see, in one place. Routes throw these; the error handler in
// app.ts turns them into `{ error, error_description }`. Internal causes go to the log only.
interface Entry {
  status: number
  description: string
}

export const ERROR_CATALOGUE = {
  invalid_request: { status: 400, description: 'The request is missing a parameter or has an invalid one.' },
  invalid_email: { status: 400, description: 'The email address is not valid.' },
  unsupported_grant_type: { status: 400, description: 'Only grant_type=refresh_token is supported here.' },
  // One code for every way a mailed link or code can fail (unknown, wrong, expired, used, or
  // guessed too often): which one it was would tell a guesser whether a code was pending.
  invalid_email_token: { status: 400, description: 'The link or code is invalid, expired or already used; ask for a new one.' },
  // Never guessed: a copy planted by a sibling subdomain must not be the one that is used.
  ambiguous_credentials: {
    status: 400,
    description: 'The request carries an authentication cookie more than once; clear this site\'s cookies and log in again.',
  },
  // RFC 6749 §5.2: the one code OAuth clients expect for any unusable refresh token.
  invalid_grant: { status: 400, description: 'The refresh token is invalid, expired or revoked.' },
  unauthorized: { status: 401, description: 'Authentication is required.' },
  invalid_credentials: { status: 401, description: 'Email or password is incorrect.' },
  // With `challenge` and `difficulty` in the body (ProofOfWorkRequired); no Retry-After: the
  // client may answer at once, with the proof.
  proof_of_work_required: {
    status: 401,
    description: 'Too many failed logins for this account: solve the challenge and send the proof with the password.',
  },
  // With `challenge` (answer it at POST /mfa/verify), `methods` and `expires_in` in the body
  // (SecondFactorRequired); only ever after the right password.
  mfa_required: { status: 401, description: 'A second factor is required: answer the challenge with POST /mfa/verify.' },
  invalid_mfa_challenge: { status: 401, description: 'The login challenge is unknown, expired or already used; log in again.' },
  // RFC 9470 §3, with acr_values and/or max_age in the WWW-Authenticate challenge.
  insufficient_user_authentication: { status: 401, description: 'A stronger or more recent authentication is required.' },
  // RFC 6749 §5.2: an OAuth endpoint's client could not be authenticated (unknown client, wrong
  // or missing secret, a public client where only confidential ones may call). With a Basic challenge.
  invalid_client: { status: 401, description: 'Client authentication failed.' },
  invalid_token: { status: 401, description: 'The access token is invalid.' },
  token_expired: { status: 401, description: 'The access token has expired.' },
  session_revoked: { status: 401, description: 'The session has been revoked.' },
  session_expired: { status: 401, description: 'The session has expired; log in again.' },
  invalid_refresh_token: { status: 401, description: 'The refresh token is not valid.' },
  refresh_token_reused: {
    status: 401,
    description: 'The refresh token was already used; the session has been revoked to protect the account.',
  },
  // 403, not 401: the caller is authenticated, and a 401 makes clients drop their session.
  invalid_current_password: { status: 403, description: 'The current password is incorrect.' },
  csrf_rejected: { status: 403, description: 'The request did not prove it comes from an allowed origin.' },
  // 403 for the same reason as invalid_current_password; a wrong, reused or old code alike.
  invalid_mfa_code: { status: 403, description: 'The code is not valid.' },
  // Any way a WebAuthn response can fail: another origin or RP, a stale or spent challenge, an
  // unknown credential, a bad signature, a counter that went back.
  invalid_passkey: { status: 400, description: 'The passkey could not be verified.' },
  // Only ever after the right password (login) or a valid access token (a route requiring a
  // verified address): it tells nothing to someone who does not already hold the account.
  email_not_verified: { status: 403, description: 'The email address of this account has not been verified yet.' },
  not_found: { status: 404, description: 'Not found.' },
  session_not_found: { status: 404, description: 'No such session.' },
  passkey_not_found: { status: 404, description: 'No such passkey.' },
  email_taken: { status: 409, description: 'An account with this email already exists.' },
  mfa_already_enabled: { status: 409, description: 'An authenticator app is already enabled for this account; disable it first.' },
  mfa_not_enabled: { status: 409, description: 'This account has no such second factor (or no enrolment to confirm).' },
  payload_too_large: { status: 413, description: 'The request body is too large.' },
  unsupported_media_type: { status: 415, description: 'The request content type is not supported.' },
  // Always with Retry-After; a limited request has changed nothing.
  too_many_requests: { status: 429, description: 'Too many requests; retry after the time in Retry-After.' },
  request_header_too_large: { status: 431, description: 'The request headers are too large.' },
  server_error: { status: 500, description: 'Something went wrong on our side.' },
  service_unavailable: { status: 503, description: 'The service is briefly unavailable; retry shortly.' },
} as const satisfies Record<string, Entry>

export type ErrorCode = keyof typeof ERROR_CATALOGUE

export interface ApiErrorBody {
  error: ErrorCode
  error_description: string
}

/**
 * An error with a catalogued code; `retryAfterSec` becomes a Retry-After header and
 * `wwwAuthenticate` a WWW-Authenticate header.
 */
export class ApiError extends Error {
  readonly statusCode: number
  wwwAuthenticate?: string
  constructor(
    readonly code: ErrorCode,
    description?: string,
    readonly retryAfterSec?: number,
    /** the internal cause (a verifier's error, say): for logs and tests, never sent */
    options?: { cause?: unknown },
  ) {
    super(description ?? ERROR_CATALOGUE[code].description, options)
    this.statusCode = ERROR_CATALOGUE[code].status
  }

  toBody(): ApiErrorBody {
    return { error: this.code, error_description: this.message }
  }
}

// The 401s that say what was wrong with the access token sent.
const ACCESS_TOKEN_ERRORS: ReadonlySet<ErrorCode> = new Set(['invalid_token', 'token_expired', 'session_revoked'])

/**
 * RFC 6750 §3: a 401 from a route protected by an access token challenges for a Bearer token,
 * naming `invalid_token` when the access token sent was wrong (malformed, expired, revoked),
 * and bare when none was (no credentials, or only a refresh token that named no session).
 * Our descriptions are plain ASCII without quotes, as the header's grammar requires.
 */
export function withBearerChallenge(err: unknown): unknown {
  // A challenge of its own (insufficient_user_authentication's) is kept.
  if (!(err instanceof ApiError) || err.statusCode !== 401 || err.wwwAuthenticate !== undefined) return err
  err.wwwAuthenticate = ACCESS_TOKEN_ERRORS.has(err.code) ? `Bearer error="invalid_token", error_description="${err.message}"` : 'Bearer'
  return err
}

export const apiError = (code: ErrorCode, description?: string) => new ApiError(code, description)

/**
 * 429 too_many_requests from a per-address request limit counted by the route's own statement
 * (the login's gate): the limiter remembers `key` as refused for `retryAfterMs`. The limiter's
 * own refusals are one too.
 */
export class IpLimited extends ApiError {
  constructor(
    /** the limit's counter key (a SHA-256 of the route and the client IP) */
    readonly key: string,
    readonly retryAfterMs: number,
  ) {
    super('too_many_requests', 'Too many requests from this address; retry after Retry-After.', Math.max(1, Math.ceil(retryAfterMs / 1000)))
  }
}

/** 401 proof_of_work_required, carrying the challenge a login must solve (src/limits/proof-of-work.ts). */
export class ProofOfWorkRequired extends ApiError {
  constructor(
    readonly challenge: string,
    readonly difficulty: number,
  ) {
    super('proof_of_work_required')
  }

  override toBody(): ApiErrorBody & { challenge: string; difficulty: number } {
    return { ...super.toBody(), challenge: this.challenge, difficulty: this.difficulty }
  }
}

/** 401 mfa_required after the right password: the challenge to answer at POST /mfa/verify. */
export class SecondFactorRequired extends ApiError {
  constructor(
    readonly challenge: string,
    readonly methods: string[],
    readonly expiresInSec: number,
  ) {
    super('mfa_required')
  }

  override toBody(): ApiErrorBody & { challenge: string; methods: string[]; expires_in: number } {
    return { ...super.toBody(), challenge: this.challenge, methods: this.methods, expires_in: this.expiresInSec }
  }
}
