// Passkeys: registered while logged in, listed and removed; and a login with a passkey alone.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from '../context.js'
import { ACCESS_TOKEN_SECURITY, ClientIdField, NoContent, TRANSPORT_NOTE, TokenResponse, Type, errorResponses } from '../../schemas/common.js'
import { AssertionCredentialSchema, CreationOptions, PasskeyName, PasskeyView, RegistrationCredentialSchema, RequestOptions } from '../../schemas/mfa.js'
import type { Passkey } from '../../mfa/passkey-store.js'
import type { AssertionCredential, RegistrationCredential } from '../../mfa/passkey-service.js'
import { requestMeta } from '../../http/meta.js'
import { ApiError } from '../../errors.js'

const view = (p: Passkey) => ({
  id: p.id,
  name: p.name,
  created_at: p.createdAt.toISOString(),
  last_used_at: p.lastUsedAt?.toISOString() ?? null,
  backup_eligible: p.backupEligible,
  backed_up: p.backedUp,
  transports: p.transports,
})

const NOT_CONFIGURED = '404 when passkeys are not configured (option webauthn).'

const passkeys: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, tokens, authenticate, limitPerIp }) => {
  const { loginPerIp } = core.settings.rateLimit
  const { codePerIp } = core.settings.mailLimits

  fastify.get(
    '/passkeys',
    {
      preHandler: authenticate,
      schema: {
        tags: ['passkeys'],
        summary: "The account's passkeys",
        security: ACCESS_TOKEN_SECURITY,
        response: { 200: Type.Object({ passkeys: Type.Array(PasskeyView) }), ...errorResponses(400, 401, 503) },
      },
    },
    async (request) => ({ passkeys: (await core.passkeys.list(request.authn!.sub)).map(view) }),
  )

  fastify.post(
    '/passkeys/register/options',
    {
      onRequest: limitPerIp('passkey-register', codePerIp),
      preHandler: authenticate,
      schema: {
        tags: ['passkeys'],
        summary: 'WebAuthn options to register a passkey',
        description: `For navigator.credentials.create(): a discoverable credential (a passkey) for this account on the configured RP ID. The session's authentication must be recent, or with a second factor enrolled, that factor (401 insufficient_user_authentication otherwise). ${NOT_CONFIGURED}`,
        security: ACCESS_TOKEN_SECURITY,
        response: { 200: Type.Object({ options: CreationOptions }), ...errorResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request) => {
      const caller = request.authn!
      await core.mfa.requireRecent(caller, { enrolling: true })
      return { options: await core.passkeys.registrationOptions(caller.sub) }
    },
  )

  fastify.post(
    '/passkeys/register',
    {
      onRequest: limitPerIp('passkey-register', codePerIp),
      preHandler: authenticate,
      schema: {
        tags: ['passkeys'],
        summary: 'Register a passkey',
        description: `The result of navigator.credentials.create() for options this account was given (once, on any instance), made on one of the configured origins: anything else is 400 invalid_passkey. From now on the passkey logs in alone (POST /passkeys/login) and answers a password login's second-factor challenge. The owner is mailed a notice. ${NOT_CONFIGURED}`,
        security: ACCESS_TOKEN_SECURITY,
        body: Type.Object({ credential: RegistrationCredentialSchema, name: Type.Optional(PasskeyName) }, { additionalProperties: false }),
        response: { 201: Type.Object({ passkey: PasskeyView }), ...errorResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const passkey = await core.passkeys.register(request.authn!.sub, request.body.credential as RegistrationCredential, request.body.name, requestMeta(request))
      return reply.code(201).send({ passkey: view(passkey) })
    },
  )

  fastify.delete(
    '/passkeys/:id',
    {
      preHandler: authenticate,
      schema: {
        tags: ['passkeys'],
        summary: 'Remove a passkey',
        description:
          "A sensitive action: the session must have used a second factor recently (401 insufficient_user_authentication otherwise: re-authenticate and retry). The owner is mailed a notice. Someone else's passkey id answers 404 like an unknown one.",
        security: ACCESS_TOKEN_SECURITY,
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 204: NoContent, ...errorResponses(400, 401, 404, 503) },
      },
    },
    async (request, reply) => {
      await core.mfa.removePasskey(request.authn!, request.params.id, requestMeta(request))
      return reply.code(204).send(null)
    },
  )

  fastify.post(
    '/passkeys/login/options',
    {
      onRequest: limitPerIp('passkey-login-options', loginPerIp),
      schema: {
        tags: ['passkeys'],
        summary: 'WebAuthn options to log in with a passkey',
        description: `For navigator.credentials.get(), with \`mediation: "conditional"\` (autofill) or a button: any passkey of this RP ID, user verification required. The challenge works once, on any instance, for two minutes. Also what POST /reauthenticate takes a passkey for. ${NOT_CONFIGURED}`,
        response: { 200: Type.Object({ options: RequestOptions }), ...errorResponses(400, 404, 429, 503) },
      },
    },
    async () => ({ options: await core.passkeys.loginOptions() }),
  )

  fastify.post(
    '/passkeys/login',
    {
      onRequest: limitPerIp('passkey-login', loginPerIp),
      schema: {
        tags: ['passkeys'],
        summary: 'Log in with a passkey alone',
        description: `The result of navigator.credentials.get() for options from POST /passkeys/login/options, made on a configured origin: a user-verified passkey counts as both factors (amr: hwk or swk, and mfa). Any failure is 400 invalid_passkey. ${TRANSPORT_NOTE}`,
        body: Type.Object(
          { credential: AssertionCredentialSchema, client_id: Type.Optional({ ...ClientIdField, description: 'the public client logging in, as at POST /login' }) },
          { additionalProperties: false },
        ),
        response: { 200: TokenResponse, ...errorResponses(400, 403, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const { client_id: clientId = core.settings.clients.defaultClient } = request.body
      if (!core.settings.clients.publicClients.has(clientId)) throw new ApiError('invalid_request', 'Unknown client_id.')
      const session = await core.mfa.passkeyLogin(request.body.credential as AssertionCredential, requestMeta(request), { client_id: clientId })
      return core.transport.sendTokens(request, reply, { userId: session.userId, accessToken: tokens.sign(session), refreshToken: session.refreshToken })
    },
  )
}

export default passkeys
