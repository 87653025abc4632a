// What every route of the plugin is given when it is registered: the composition root's
// services, the access-token signer, the authenticate pre-handler and the per-IP limiter.
// Passed as register options, not decorators, so nothing of it leaks into the host.
import type { Core } from '../core.js'
import type { IpLimiter } from '../limits/rate-limit-store.js'
import type { AccessTokens, Authenticator } from '../access-tokens.js'

export interface RouteDeps {
  core: Core
  tokens: AccessTokens
  authenticate: Authenticator
  /**
   * at most `max` requests per window per client IP (IPv6 by /64), counted where every instance
   * sees them: an onRequest hook, or (`.counted`) the limit a route's own statement counts
   */
  limitPerIp: IpLimiter
}
