// Schema pieces shared by routes. `Type` is imported from here only.
import { Type, type TSchema } from '@fastify/type-provider-typebox'

export { Type }

export const ErrorBody = Type.Object(
  { error: Type.String(), error_description: Type.String() },
  { $id: 'ErrorBody', description: 'Every error: a stable code and a human-readable text' },
)

export const errorRef = Type.Ref('ErrorBody')

export const Credentials = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 320 }),
    password: Type.String({ minLength: 8, maxLength: 1024 }),
  },
  { additionalProperties: false },
)

/** What POST /auth/login takes: the credentials and, when asked for one, a proof of work. */
export const LoginBody = Type.Object(
  {
    ...Credentials.properties,
    proof: Type.Optional(
      Type.Object(
        {
          challenge: Type.String({ minLength: 1, maxLength: 200, description: 'as received in the proof_of_work_required answer' }),
          nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'the solution' }),
        },
        {
          additionalProperties: false,
          description:
            'After a 401 proof_of_work_required: a nonce such that SHA-256(challenge + "." + hex(SHA-256(NFC(password))) + "." + nonce) starts with `difficulty` zero bits.',
        },
      ),
    ),
  },
  { additionalProperties: false },
)

/** The 401 of POST /auth/login: ErrorBody, plus the challenge when the code is proof_of_work_required. */
export const LoginUnauthorized = Type.Object(
  {
    error: Type.String(),
    error_description: Type.String(),
    challenge: Type.Optional(Type.String({ description: 'with proof_of_work_required: the challenge to solve (opaque)' })),
    difficulty: Type.Optional(Type.Integer({ description: 'with proof_of_work_required: leading zero bits the proof hash needs' })),
  },
  {
    $id: 'LoginUnauthorized',
    description: 'invalid_credentials, or proof_of_work_required with a challenge: too many failed logins for this account from all addresses',
  },
)

// Bearer clients get both tokens; cookie clients get neither in the body.
export const TokenResponse = Type.Object({
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  access_token: Type.Optional(Type.String()),
  refresh_token: Type.Optional(Type.String()),
})

export const RefreshTokenField = Type.String({ minLength: 1, maxLength: 4096 })

/** `{ 401: errorRef, 503: errorRef, … }`: the error responses a route can give. */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof errorRef> {
  return Object.fromEntries(statuses.map((s) => [s, errorRef])) as Record<S, typeof errorRef>
}

export const NoContent = Type.Null({ description: 'No content' })

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

export const Status = Type.Object({ status: Type.Literal('ok') })

/** Protected routes take the access token as `Authorization: Bearer` or as the access cookie. */
export const ACCESS_TOKEN_SECURITY: Record<string, string[]>[] = [{ bearer: [] }, { accessCookie: [] }]

export const TRANSPORT_NOTE =
  'Send `X-Auth-Transport: cookie` to use the cookie transport: tokens then travel only in httpOnly cookies, never in the body.'
