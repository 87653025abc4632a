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
