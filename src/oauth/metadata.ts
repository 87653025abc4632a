// RFC 8414 authorization-server metadata, built once from the settings. Every endpoint is the
// issuer (the URL the plugin's routes are reached at) plus its route.
import type { AuthSettings } from '../options.js'

export const WELL_KNOWN_OAUTH = '/.well-known/oauth-authorization-server'
export const WELL_KNOWN_OIDC = '/.well-known/openid-configuration'

/** The plugin's OAuth routes, relative to its prefix. */
export const OAUTH_ROUTES = {
  token: '/refresh',
  jwks: '/.well-known/jwks.json',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  feed: '/oauth/revocation-feed',
} as const

export function authorizationServerMetadata(settings: AuthSettings): Record<string, unknown> {
  const { issuer, key } = settings.jwt
  const at = (route: string) => `${issuer}${route}`
  // HS256 publishes no key, so nothing outside can verify tokens or feed events: neither is offered.
  const asymmetric = key.jwk !== null
  const confidentialMethods = ['client_secret_basic', 'client_secret_post']
  return {
    issuer,
    token_endpoint: at(OAUTH_ROUTES.token),
    // Public clients (the web and mobile apps) name themselves; confidential ones hold a secret.
    token_endpoint_auth_methods_supported: ['none'],
    // Login is this service's own POST {issuer}/login (no password grant, no redirect flow):
    // OAuth clients take over at the refresh grant.
    grant_types_supported: ['refresh_token'],
    response_types_supported: [],
    ...(asymmetric ? { jwks_uri: at(OAUTH_ROUTES.jwks) } : {}),
    revocation_endpoint: at(OAUTH_ROUTES.revocation),
    revocation_endpoint_auth_methods_supported: ['none', ...confidentialMethods],
    introspection_endpoint: at(OAUTH_ROUTES.introspection),
    introspection_endpoint_auth_methods_supported: confidentialMethods,
    // Not a registered metadata name: the SSE stream of CAEP session-revoked SETs that
    // resource servers subscribe to (README: Services that verify tokens).
    ...(asymmetric ? { session_revocation_feed_endpoint: at(OAUTH_ROUTES.feed) } : {}),
  }
}
