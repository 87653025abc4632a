// Schema pieces of the second factors and passkeys.
import { ApiError } from '../errors.js'
import type { FactorAnswer } from '../mfa/mfa-service.js'
import type { AssertionCredential } from '../mfa/passkey-service.js'
import { ClientString, LoginBody, Nullable, PasswordString, Type } from './common.js'

const base64url = (maxLength: number, description?: string) =>
  Type.String({ pattern: '^[A-Za-z0-9_-]*$', minLength: 1, maxLength, ...(description ? { description } : {}) })

export const TotpCode = Type.String({ pattern: '^[0-9]{6}$', description: 'the 6-digit code the authenticator app shows now' })
export const RecoveryCodeField = ClientString({ minLength: 10, maxLength: 40, description: 'one of the recovery codes (`xxxxx-xxxxx`; case, spaces and dashes do not matter)' })
export const ChallengeToken = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'the `challenge` of the 401 mfa_required a login answered' })

/** What navigator.credentials.get() gave, as PublicKeyCredential.toJSON() writes it. */
export const AssertionCredentialSchema = Type.Object(
  {
    id: base64url(1024),
    rawId: base64url(1024),
    type: Type.Literal('public-key'),
    response: Type.Object({
      clientDataJSON: base64url(4096),
      authenticatorData: base64url(4096),
      signature: base64url(2048),
      userHandle: Type.Optional(base64url(128)),
    }),
    clientExtensionResults: Type.Object({}, { additionalProperties: true }),
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { description: 'The PublicKeyCredential of navigator.credentials.get(), as its toJSON() gives it' },
)

/** What navigator.credentials.create() gave, as PublicKeyCredential.toJSON() writes it. */
export const RegistrationCredentialSchema = Type.Object(
  {
    id: base64url(1024),
    rawId: base64url(1024),
    type: Type.Literal('public-key'),
    response: Type.Object({
      clientDataJSON: base64url(4096),
      attestationObject: base64url(16_384),
      transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 10 })),
      authenticatorData: Type.Optional(base64url(16_384)),
      publicKey: Type.Optional(base64url(4096)),
      publicKeyAlgorithm: Type.Optional(Type.Integer()),
    }),
    clientExtensionResults: Type.Object({}, { additionalProperties: true }),
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { description: 'The PublicKeyCredential of navigator.credentials.create(), as its toJSON() gives it' },
)

const CredentialDescriptor = Type.Object({ id: Type.String(), type: Type.Literal('public-key'), transports: Type.Optional(Type.Array(Type.String())) })

/** PublicKeyCredentialRequestOptionsJSON: for navigator.credentials.get() (PublicKeyCredential.parseRequestOptionsFromJSON). */
export const RequestOptions = Type.Object(
  {
    challenge: Type.String(),
    rpId: Type.Optional(Type.String()),
    timeout: Type.Optional(Type.Integer()),
    userVerification: Type.Optional(Type.String()),
    allowCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
  },
  { description: 'WebAuthn request options (PublicKeyCredentialRequestOptionsJSON)' },
)

/** PublicKeyCredentialCreationOptionsJSON: for navigator.credentials.create(). */
export const CreationOptions = Type.Object(
  {
    challenge: Type.String(),
    rp: Type.Object({ name: Type.String(), id: Type.Optional(Type.String()) }),
    user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() }),
    pubKeyCredParams: Type.Array(Type.Object({ alg: Type.Integer(), type: Type.Literal('public-key') })),
    timeout: Type.Optional(Type.Integer()),
    excludeCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
    authenticatorSelection: Type.Optional(
      Type.Object({
        authenticatorAttachment: Type.Optional(Type.String()),
        residentKey: Type.Optional(Type.String()),
        requireResidentKey: Type.Optional(Type.Boolean()),
        userVerification: Type.Optional(Type.String()),
      }),
    ),
    attestation: Type.Optional(Type.String()),
    extensions: Type.Optional(Type.Object({ credProps: Type.Optional(Type.Boolean()) })),
    hints: Type.Optional(Type.Array(Type.String())),
  },
  { description: 'WebAuthn creation options (PublicKeyCredentialCreationOptionsJSON)' },
)

/** The proof of work a code must bring once the account has had many wrong ones (as a login's). */
export const ProofField = LoginBody.properties.proof

/** One of a code, a recovery code or a passkey. */
export const FactorAnswerFields = {
  code: Type.Optional(TotpCode),
  recovery_code: Type.Optional(RecoveryCodeField),
  passkey: Type.Optional(AssertionCredentialSchema),
}

export const FACTOR_NOTE =
  'Send exactly one of `code` (the authenticator app), `recovery_code` or `passkey` (a WebAuthn assertion). A wrong code is 403 invalid_mfa_code and counts like a wrong password: a lock per account and client IP after repeated failures (429), and past many failures of the account from every address a proof of work (401 proof_of_work_required; send `proof` as a login does, with the code in place of the password).'

/** Exactly one answer, or 400 invalid_request. */
export function answerOf(body: { code?: string; recovery_code?: string; passkey?: unknown }): FactorAnswer {
  const given = [body.code, body.recovery_code, body.passkey].filter((v) => v !== undefined).length
  if (given !== 1) throw new ApiError('invalid_request', 'Send exactly one of code, recovery_code or passkey.')
  if (body.code !== undefined) return { code: body.code }
  if (body.recovery_code !== undefined) return { recoveryCode: body.recovery_code }
  return { passkey: body.passkey as AssertionCredential }
}

/** The 401 of a route that checks a code: ErrorBody, plus the challenge with proof_of_work_required. */
export const CodeUnauthorized = Type.Object(
  {
    error: Type.String(),
    error_description: Type.String(),
    challenge: Type.Optional(Type.String({ description: 'with proof_of_work_required: the challenge to solve' })),
    difficulty: Type.Optional(Type.Integer({ description: 'with proof_of_work_required: leading zero bits the proof hash needs' })),
  },
  { description: 'invalid_mfa_challenge, insufficient_user_authentication, or proof_of_work_required with a challenge' },
)

export const RecoveryCodes = Type.Object({
  recovery_codes: Type.Array(Type.String(), { description: 'shown this once: each logs in once in place of a code; the previous ones no longer work' }),
})

export const PasskeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Nullable(Type.String({ format: 'date-time' })),
  backup_eligible: Type.Boolean({ description: 'the passkey may be synced to other devices (amr swk); false: bound to its authenticator (amr hwk)' }),
  backed_up: Type.Boolean(),
  transports: Type.Array(Type.String()),
})

export const PasskeyName = ClientString({ minLength: 1, maxLength: 64, description: 'a name to tell it apart (default: "Passkey added <date>")' })

export const ReauthPassword = PasswordString({ minLength: 1, maxLength: 1024 })
