// What a host's routes see, whichever plugin verifies the tokens: the in-process auth plugin
// (src/plugin.ts) or the resource-server plugin of a service in another process
// (src/resource-server/). Both decorate `fastify.authn` with at least these members and set
// `request.authn` to the same claims. `FastifyAuthn` is extended by the in-process plugin's
// module with its other members, so a host that imports only the resource server is never
// told of members that are not there.
import type { Authenticator, Requirements } from './access-tokens.js'
import type { AccessClaims } from './auth/access-claims.js'

export interface AuthnVerifier {
  /**
   * A preHandler for any route: 401 (with a Bearer challenge) unless the request carries a
   * valid access token of a session that has not been revoked. No database query, and no
   * call to the auth service. The claims land on `request.authn`.
   */
  authenticate: Authenticator
  /**
   * A preHandler that authenticates like `authenticate` (unless it already ran) and then
   * requires more of the token: `{ emailVerified: true }` answers 403 email_not_verified
   * unless the owner has proved the address (the token's `email_verified` claim); `{ mfa: true }`
   * and `{ maxAgeSec: n }` answer 401 insufficient_user_authentication (RFC 9470, with
   * `acr_values` / `max_age` in WWW-Authenticate) unless the token's `amr` has `mfa` and its
   * `auth_time` is at most n seconds old. Still no database query.
   */
  require(requirements: Requirements): Authenticator
  /** The claims of an access token, or an error with statusCode 401 (503 from a resource server past its staleness bound). */
  verify(token: string): AccessClaims
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface FastifyAuthn extends AuthnVerifier {}

declare module 'fastify' {
  interface FastifyInstance {
    authn: FastifyAuthn
  }
  interface FastifyRequest {
    /** the access token's claims once `authn.authenticate` has passed; null before */
    authn: AccessClaims | null
  }
}
