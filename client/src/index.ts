// Client SDK for the auth API. No runtime dependencies; runs in browsers (cookie transport,
// tabs coordinated by Web Locks and BroadcastChannel), Node and React Native (Bearer
// transport with a secure-storage callback).
export { createAuthClient, TRANSPORT_HEADER } from './auth-client.js'
export { conditionalMediationAvailable } from './webauthn.js'
export type {
  FactorAnswer,
  MfaStatus,
  PasskeyInfo,
  TotpEnrolment,
  AccountEvent,
  AccountEventsPage,
  AuthClient,
  AuthClientOptions,
  AuthEvent,
  EmailProof,
  LogoutInfo,
  LogoutScope,
  Me,
  Registered,
  Session,
  SessionState,
  TransportMode,
} from './auth-client.js'
export {
  AuthError,
  DEFINITIVE_REFRESH_ERRORS,
  ERROR_CODES,
  SESSION_OVER_ERRORS,
  SecondFactorRequired,
  TRANSIENT_STATUSES,
  isErrorCode,
  parseRetryAfter,
} from './errors.js'
export type { AuthErrorCode, AuthErrorKind, ClientErrorCode, ErrorCode, HttpStatusCode, StepUpChallenge } from './errors.js'
export { memoryStorage } from './storage.js'
export type { TokenStorage, Tokens } from './storage.js'
export { DEFAULT_RETRY, backoffDelay } from './http.js'
export { MAX_PROOF_OF_WORK_BITS, solveProofOfWork } from './proof-of-work.js'
export type { FetchLike, RetryOptions } from './http.js'
export type { ChannelLike, LockManagerLike } from './cross-tab.js'
