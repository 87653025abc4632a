// Schema pieces shared by routes. `Type` is imported from here only.
// From typebox itself: the type provider's entry also loads typebox's compiler and value
// modules, which nothing here uses, and doubled the time a server takes to start.
import { Type, type TSchema } from 'typebox'

export { Type }

// Inlined where used, never a shared schema ($id): the routes live in the plugin's own
// context, and a host's OpenAPI document built at its root cannot resolve a reference to a
// schema only that context knows.
export const ErrorBody = Type.Object(
  { error: Type.String(), error_description: Type.String() },
  { description: 'Every error: a stable code and a human-readable text' },
)

export const errorRef = ErrorBody

// Client strings are checked for control characters by schema validation, so a bad one is a
// 400 before any database work, any counter or any log line.
//
// - Text we store or look up in the database (emails): no C0 control character and no DEL.
//   Postgres refuses NUL in text (22021: a 500, after the failed-login counter had already
//   counted it), and the others have no place in an address: an escape or DEL was stored
//   as typed, a newline or tab at either end trimmed away and accepted, and a stored control
//   character is a log-injection and display-spoofing vector wherever the address is shown.
// - Every other string (tokens, passwords, grant_type, cursors): no NUL. None of them is
//   valid with one, and a NUL is where C-string code (native bindings, other verifiers, a
//   future migration's tools) would silently cut the string short.
//
// Written with \u escapes so the OpenAPI document shows the pattern, not raw control bytes.
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001f\\u007f]*$'
export const NO_NUL = '^[^\\u0000]*$'

/** What a validation error on one of the patterns above says, instead of the pattern itself. */
export const PATTERN_DESCRIPTIONS: Readonly<Record<string, string>> = {
  [NO_CONTROL_CHARACTERS]: 'must not contain control characters',
  [NO_NUL]: 'must not contain NUL characters',
}

type StringOptions = Parameters<typeof Type.String>[0]

/** A string that may be stored or compared in the database: no control characters. */
export const StoredString = (opts: StringOptions = {}) => Type.String({ ...opts, pattern: NO_CONTROL_CHARACTERS })

/** Any other client string: anything but NUL. */
export const ClientString = (opts: StringOptions = {}) => Type.String({ ...opts, pattern: NO_NUL })

// Passwords take any Unicode but NUL, tabs and newlines included: a password is never stored,
// logged or shown (only its argon2 hash is kept), so no character in it can corrupt anything,
// and refusing what a password manager generated or a user pasted would lock people out of
// accounts they made before such a rule. NUL alone is refused: no keyboard types it, and
// C-string password hashing (many bcrypt implementations, for one) ends the password there,
// so "secret\0x" and "secret" would be one password to them: hashes made here must never
// depend on a character that another verifier of them would drop.
export const PasswordString = (opts: StringOptions = {}) => ClientString(opts)

export const Credentials = Type.Object(
  {
    email: StoredString({ minLength: 3, maxLength: 320 }),
    password: PasswordString({ minLength: 8, maxLength: 1024 }),
  },
  { additionalProperties: false },
)

/** An OAuth client id (RFC 6749 §2.2), as the clients option allows them. */
export const ClientIdField = Type.String({ pattern: '^[A-Za-z0-9._~-]{1,64}$', description: 'an OAuth client id' })

/** What POST /auth/login takes: the credentials, the client, and, when asked for one, a proof of work. */
export const LoginBody = Type.Object(
  {
    ...Credentials.properties,
    client_id: Type.Optional({ ...ClientIdField, description: 'the public client logging in (clients.public); default: clients.defaultClient. Carried by every access token of the session.' }),
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
    challenge: Type.Optional(
      Type.String({ description: 'with proof_of_work_required: the challenge to solve (opaque); with mfa_required: the token to answer at POST /mfa/verify' }),
    ),
    difficulty: Type.Optional(Type.Integer({ description: 'with proof_of_work_required: leading zero bits the proof hash needs' })),
    methods: Type.Optional(Type.Array(Type.String(), { description: 'with mfa_required: the second factors the account has (totp, passkey, recovery_code)' })),
    expires_in: Type.Optional(Type.Integer({ description: 'with mfa_required: seconds the challenge can be answered' })),
  },
  {
    description:
      'invalid_credentials; proof_of_work_required with a challenge (too many failed logins for this account from all addresses); or mfa_required with a challenge, after the right password of an account with a second factor',
  },
)

// Bearer clients get both tokens; cookie clients get neither in the body.
export const TokenResponse = Type.Object({
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  access_token: Type.Optional(Type.String()),
  refresh_token: Type.Optional(Type.String()),
})

export const RefreshTokenField = ClientString({ minLength: 1, maxLength: 4096 })

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
