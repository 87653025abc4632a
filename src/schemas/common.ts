// Schema pieces shared by routes. `Type` is imported from here only.
import { Type } from '@fastify/type-provider-typebox'

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
