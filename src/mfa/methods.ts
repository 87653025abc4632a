// How a session authenticated (RFC 8176 `amr` values) and whether that is enough for a route
// (RFC 9470 step-up): pure functions of the access token's claims and a clock.
//
// amr values this service issues:
// - `pwd`: the account's password;
// - `otp`: a code from the authenticator app (RFC 6238);
// - `hwk`: a passkey whose private key cannot leave its authenticator (not backup eligible:
//   a security key, a platform authenticator's hardware);
// - `swk`: a passkey that may be synced or backed up (backup eligible), so its key is
//   software-protected somewhere along the way;
// - `mfa`: two factors were used: a password and a second factor, or a passkey with user
//   verification (something held and a PIN or biometric), which counts as both.
// A recovery code is a second factor with no registered value of its own: it adds `mfa` only.
import { ApiError } from '../errors.js'
import type { SessionClaims } from '../auth/access-claims.js'

export type AuthMethod = 'pwd' | 'otp' | 'hwk' | 'swk' | 'mfa'

const ORDER: readonly AuthMethod[] = ['pwd', 'otp', 'hwk', 'swk', 'mfa']

/** What proved the second factor (or, for a passkey alone, both). */
export type Factor = { kind: 'totp' } | { kind: 'recovery_code' } | { kind: 'passkey'; backupEligible: boolean; userVerified: boolean }

/** One list, in one order, without repeats. */
export function amrOf(...methods: readonly (string | undefined)[]): AuthMethod[] {
  return ORDER.filter((m) => methods.includes(m))
}

/** The methods a factor contributes. */
export function factorMethods(f: Factor): AuthMethod[] {
  if (f.kind === 'totp') return ['otp']
  if (f.kind === 'recovery_code') return []
  return [f.backupEligible ? 'swk' : 'hwk']
}

/** A password login's claims. */
export function passwordClaims(nowMs: number): SessionClaims {
  return { amr: ['pwd'], auth_time: Math.floor(nowMs / 1000) }
}

/** A password followed by a second factor. */
export function twoFactorClaims(f: Factor, nowMs: number): SessionClaims {
  return { amr: amrOf('pwd', ...factorMethods(f), 'mfa'), auth_time: Math.floor(nowMs / 1000) }
}

/** A passkey alone: both factors when the authenticator verified the user. */
export function passkeyClaims(f: Extract<Factor, { kind: 'passkey' }>, nowMs: number): SessionClaims {
  return { amr: amrOf(...factorMethods(f), f.userVerified ? 'mfa' : undefined), auth_time: Math.floor(nowMs / 1000) }
}

/**
 * A session re-authenticated now. With a second factor: what it had, that factor and `mfa`
 * (the password, if any, came at login; the factor now). With the password alone (an account
 * without a second factor): `pwd` only, so a fresh password never makes an older second factor
 * look fresh. Only these two change: the session's other claims (client_id) stay as they were.
 */
export function reauthenticatedClaims(previous: SessionClaims, how: Factor | 'password', nowMs: number): Pick<SessionClaims, 'amr' | 'auth_time'> {
  const amr = how === 'password' ? amrOf('pwd') : amrOf(...(previous.amr ?? []), ...factorMethods(how), 'mfa')
  return { amr, auth_time: Math.floor(nowMs / 1000) }
}

/** What a route asks of the authentication behind its access token. */
export interface AuthenticationNeeds {
  /** a second factor (amr has `mfa`) */
  mfa?: boolean
  /** an authentication (login or re-authentication) at most this many seconds old */
  maxAgeSec?: number
}

/** RFC 9470 §3's acr_values for "a second factor": the OpenID PAPE multi-factor policy. */
export const MFA_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor'

/** What is missing (null: nothing), from the claims alone. */
export function unmetNeeds(claims: SessionClaims, needs: AuthenticationNeeds, nowMs: number): AuthenticationNeeds | null {
  const missing: AuthenticationNeeds = {}
  if (needs.mfa && !(claims.amr ?? []).includes('mfa')) missing.mfa = true
  if (needs.maxAgeSec !== undefined) {
    // No auth_time (a token of an older version) is as old as can be.
    const age = claims.auth_time === undefined ? Infinity : Math.floor(nowMs / 1000) - claims.auth_time
    if (age > needs.maxAgeSec) missing.maxAgeSec = needs.maxAgeSec
  }
  // Age alone is unmet with mfa asked for, and the second factor is what was too old: say both.
  if (missing.maxAgeSec !== undefined && needs.mfa) missing.mfa = true
  return missing.mfa || missing.maxAgeSec !== undefined ? missing : null
}

/**
 * 401 insufficient_user_authentication with RFC 9470 §3's challenge: `acr_values` when a second
 * factor is needed, `max_age` when a more recent authentication is.
 */
export function insufficientAuthentication(missing: AuthenticationNeeds): ApiError {
  const description =
    missing.mfa && missing.maxAgeSec !== undefined
      ? 'A recent second factor is required: re-authenticate with it.'
      : missing.mfa
        ? 'A second factor is required for this request.'
        : 'A more recent authentication is required: re-authenticate.'
  const err = new ApiError('insufficient_user_authentication', description)
  const params = [`error="insufficient_user_authentication"`, `error_description="${description}"`]
  if (missing.mfa) params.push(`acr_values="${MFA_ACR}"`)
  if (missing.maxAgeSec !== undefined) params.push(`max_age="${missing.maxAgeSec}"`)
  err.wwwAuthenticate = `Bearer ${params.join(', ')}`
  return err
}
