// Signs and verifies access JWTs through @fastify/jwt, and provides the `authenticate`
// pre-handler. Verification is pinned: one algorithm, one key id, issuer, audience, typ and
// every claim required; every failure is a 401 with a stable code. The protected path reads
// only the token and the in-memory denylist: no database query.
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, withBearerChallenge } from '../errors.js'
import type { Config, JwtAlgorithm } from '../config.js'
import { ACCESS_TOKEN_TYP, parseAccessClaims, type AccessClaims } from '../auth/access-claims.js'

export interface AccessTokenOptions {
  config: Config
}

interface Decoded {
  header: { alg?: unknown; kid?: unknown; typ?: unknown }
  payload: unknown
}

declare module 'fastify' {
  interface FastifyInstance {
    accessTokens: {
      sign(subject: { userId: string; email: string; familyId: string }): string
      /** throws ApiError(401) unless the token is one we issued and it is still good */
      verify(token: string): AccessClaims
    }
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>
  }
  interface FastifyRequest {
    auth: AccessClaims | null
  }
}

export default fp<AccessTokenOptions>(
  async (fastify, { config }) => {
    const { key, previousKeys, issuer, audience, accessTtlSec } = config.jwt
    const verifyOptions = (algorithm: JwtAlgorithm) => ({
      algorithms: [algorithm] as JwtAlgorithm[],
      allowedIss: issuer,
      allowedAud: audience,
      // allowedIss/allowedAud alone let a token without iss/aud/exp through.
      requiredClaims: ['sub', 'sid', 'iat', 'exp', 'iss', 'aud', 'jti'],
      // fast-jwt lower-cases typ and drops one leading "application/" before comparing: exactly
      // RFC 9068 §4 ("at+jwt" or "application/at+jwt", media types being case-insensitive).
      // test/app/access-token-attacks.test.ts pins each variant's answer.
      checkTyp: ACCESS_TOKEN_TYP,
      complete: true,
      cache: 10_000,
      cacheTTL: 60_000,
      // The plugin's default caches failures for 10 minutes; a failure must not outlive its cause.
      errorCacheTTL: 0,
    })
    await fastify.register(jwt, {
      secret: { private: key.signKey, public: key.verifyKey },
      sign: {
        algorithm: key.algorithm,
        kid: key.kid,
        iss: issuer,
        aud: audience,
        expiresIn: accessTtlSec, // seconds, as @fastify/jwt reads a number
        header: { alg: key.algorithm, typ: ACCESS_TOKEN_TYP },
      },
      verify: verifyOptions(key.algorithm),
    })
    // Retired keys (JWT_PREVIOUS_JWKS): one verify-only @fastify/jwt namespace each, pinned to
    // EdDSA like the current key, looked up by the token's kid.
    const previous = new Map<string, { kid: string; algorithm: string; verify: (token: string) => Decoded }>()
    for (const [i, k] of previousKeys.entries()) {
      const namespace = `previousKey${i}`
      await fastify.register(jwt, { namespace, secret: { public: k.verifyKey }, verify: verifyOptions(k.algorithm) })
      const ns = (fastify.jwt as unknown as Record<string, { verify<T>(token: string): T }>)[namespace]!
      previous.set(k.kid, { kid: k.kid, algorithm: k.algorithm, verify: (token) => ns.verify<Decoded>(token) })
    }

    const toApiError = (err: unknown): ApiError => {
      if (err instanceof ApiError) return err
      return new ApiError((err as { code?: string }).code === 'FAST_JWT_EXPIRED' ? 'token_expired' : 'invalid_token')
    }
    // fast-jwt has pinned the algorithm; the key id and claim shape are ours to pin.
    const checked = (decoded: Decoded, expected: { kid: string; algorithm: string }): AccessClaims => {
      if (decoded.header.kid !== expected.kid || decoded.header.alg !== expected.algorithm) throw new ApiError('invalid_token')
      const claims = parseAccessClaims(decoded.payload)
      if (!claims) throw new ApiError('invalid_token')
      return claims
    }
    // The token's kid names a retired key; only read when the current key has refused it, so
    // the common path pays nothing for rotation support.
    const retiredKeyFor = (token: string) => {
      if (previous.size === 0) return undefined
      try {
        const kid = (fastify.jwt.decode<Decoded>(token, { complete: true }) as Decoded | null)?.header.kid
        return typeof kid === 'string' ? previous.get(kid) : undefined
      } catch {
        return undefined
      }
    }

    fastify.decorate('accessTokens', {
      sign: ({ userId, email, familyId }) =>
        fastify.jwt.sign({ sub: userId, sid: familyId, email, jti: randomUUID() }),
      verify(token: string): AccessClaims {
        try {
          return checked(fastify.jwt.verify<Decoded>(token), key)
        } catch (err) {
          const retired = retiredKeyFor(token)
          if (!retired) throw toApiError(err)
          try {
            return checked(retired.verify(token), retired)
          } catch (again) {
            throw toApiError(again)
          }
        }
      },
    })

    fastify.decorateRequest('auth', null)
    fastify.decorate('authenticate', async (request: FastifyRequest) => {
      try {
        const token = fastify.transport.readAccessToken(request)
        if (token === null) throw new ApiError('unauthorized')
        const claims = fastify.accessTokens.verify(token)
        if (fastify.denylist.has(claims.sid)) throw new ApiError('session_revoked')
        request.auth = claims
      } catch (err) {
        throw withBearerChallenge(err)
      }
    })
  },
  { name: 'access-tokens', dependencies: ['services'] },
)
