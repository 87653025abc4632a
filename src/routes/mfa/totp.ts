// The authenticator app and its recovery codes, for a logged-in user.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from '../context.js'
import { ACCESS_TOKEN_SECURITY, NoContent, Nullable, Type, errorResponses } from '../../schemas/common.js'
import { RecoveryCodes, TotpCode } from '../../schemas/mfa.js'
import { requestMeta } from '../../http/meta.js'

const STEP_UP_NOTE =
  'A sensitive action: with a second factor enrolled, the session must have used one recently (mfa.stepUpMaxAgeSec); otherwise 401 insufficient_user_authentication with RFC 9470 `acr_values`/`max_age` in WWW-Authenticate. Re-authenticate (POST /reauthenticate) and retry.'

const totp: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, authenticate, limitPerIp }) => {
  const { codePerIp } = core.settings.mailLimits

  fastify.get(
    '/mfa',
    {
      preHandler: authenticate,
      schema: {
        tags: ['mfa'],
        summary: "The account's second factors",
        security: ACCESS_TOKEN_SECURITY,
        response: {
          200: Type.Object({
            totp: Type.Object({ enabled: Type.Boolean(), enabled_at: Nullable(Type.String({ format: 'date-time' })) }),
            passkeys: Type.Boolean({ description: 'the account has at least one passkey (GET /passkeys lists them)' }),
            recovery_codes_left: Type.Integer(),
          }),
          ...errorResponses(400, 401, 503),
        },
      },
    },
    async (request) => {
      const s = await core.mfa.status(request.authn!.sub)
      return { totp: { enabled: s.totp, enabled_at: s.totpSince?.toISOString() ?? null }, passkeys: s.passkeys, recovery_codes_left: s.recoveryCodesLeft }
    },
  )

  fastify.post(
    '/mfa/totp/enroll',
    {
      onRequest: limitPerIp('mfa-enroll', codePerIp),
      preHandler: authenticate,
      schema: {
        tags: ['mfa'],
        summary: 'Start enrolling an authenticator app',
        description: `A new secret, kept encrypted: the \`otpauth://\` URI and its QR code (an SVG data: URL) for the app, and the secret in base32 to type by hand. Nothing changes at login until POST /mfa/totp/confirm takes a first code; starting again replaces an unconfirmed secret. 409 mfa_already_enabled when one is enabled. The session's authentication must be recent (mfa.stepUpMaxAgeSec), or, with another second factor enrolled, that factor: 401 insufficient_user_authentication otherwise.`,
        security: ACCESS_TOKEN_SECURITY,
        response: {
          200: Type.Object({ secret: Type.String(), otpauth_uri: Type.String(), qr_code: Type.String({ description: 'data:image/svg+xml;base64,…' }) }),
          ...errorResponses(400, 401, 409, 429, 503),
        },
      },
    },
    async (request) => {
      const e = await core.mfa.startTotp(request.authn!)
      return { secret: e.secret, otpauth_uri: e.otpauthUri, qr_code: e.qrCode }
    },
  )

  fastify.post(
    '/mfa/totp/confirm',
    {
      onRequest: limitPerIp('mfa-confirm', codePerIp),
      preHandler: authenticate,
      schema: {
        tags: ['mfa'],
        summary: 'Confirm the authenticator app with its first code',
        description:
          'The first code the app shows turns it on: from now on a password login asks for a code (401 mfa_required). Answers the ten recovery codes, shown this once; each logs in once in place of a code. The owner is mailed a notice. 403 invalid_mfa_code for a wrong code; 409 mfa_not_enabled when no enrolment is waiting.',
        security: ACCESS_TOKEN_SECURITY,
        body: Type.Object({ code: TotpCode }, { additionalProperties: false }),
        response: { 200: RecoveryCodes, ...errorResponses(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request) => ({ recovery_codes: await core.mfa.confirmTotp(request.authn!, request.body.code, requestMeta(request)) }),
  )

  fastify.delete(
    '/mfa/totp',
    {
      preHandler: authenticate,
      schema: {
        tags: ['mfa'],
        summary: 'Turn the authenticator app off',
        description: `${STEP_UP_NOTE} The owner is mailed a notice. Recovery codes go too unless a passkey remains. 409 mfa_not_enabled when there is none.`,
        security: ACCESS_TOKEN_SECURITY,
        response: { 204: NoContent, ...errorResponses(400, 401, 409, 503) },
      },
    },
    async (request, reply) => {
      await core.mfa.disableTotp(request.authn!, requestMeta(request))
      return reply.code(204).send(null)
    },
  )

  fastify.post(
    '/mfa/recovery-codes',
    {
      onRequest: limitPerIp('mfa-recovery-codes', codePerIp),
      preHandler: authenticate,
      schema: {
        tags: ['mfa'],
        summary: 'Replace the recovery codes',
        description: `${STEP_UP_NOTE} Ten new codes, shown this once; the previous ones stop working. The owner is mailed a notice.`,
        security: ACCESS_TOKEN_SECURITY,
        response: { 200: RecoveryCodes, ...errorResponses(400, 401, 409, 429, 503) },
      },
    },
    async (request) => ({ recovery_codes: await core.mfa.regenerateRecoveryCodes(request.authn!, requestMeta(request)) }),
  )
}

export default totp
