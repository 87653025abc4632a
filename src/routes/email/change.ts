import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from '../context.js'
import { ACCESS_TOKEN_SECURITY, NoContent, PasswordString, Type, errorResponses } from '../../schemas/common.js'
import { EmailField, PROOF_NOTE, ProofFields, proofOf } from '../../schemas/email.js'
import { requestMeta } from '../../http/meta.js'

const change: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, authenticate, limitPerIp }) => {
  const { codePerIp, perIp } = core.settings.mailLimits
  fastify.post(
    '/email/change',
    {
      onRequest: limitPerIp('email-change', perIp),
      preHandler: authenticate,
      schema: {
        tags: ['email'],
        summary: 'Ask to move the account to another address',
        description:
          'Needs the current password (counted like a login failure when wrong: 403 invalid_current_password). 202: the new address is mailed a link and a code, and nothing changes until one is used (POST /email/change/confirm). If the new address already has an account, its owner is told instead. The old address is told when the change takes effect, and can undo it. With a second factor enrolled, the session must have used it recently: 401 insufficient_user_authentication otherwise.',
        security: ACCESS_TOKEN_SECURITY,
        body: Type.Object({ new_email: EmailField, password: PasswordString({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
        response: { 202: Type.Object({ status: Type.Literal('accepted') }), ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      await core.mfa.requireRecent(request.authn!)
      await core.email.changeEmail(request.authn!, request.body.new_email, request.body.password, requestMeta(request))
      return reply.code(202).send({ status: 'accepted' as const })
    },
  )

  fastify.post(
    '/email/change/confirm',
    {
      onRequest: limitPerIp('email-confirm', codePerIp),
      schema: {
        tags: ['email'],
        summary: 'Confirm the new address with the link or code mailed to it',
        description: `${PROOF_NOTE} \`email\` is the new address. The account moves to it (verified), and the old address is mailed a link and a code that undo the change. 409 email_taken when another account has taken the address meanwhile.`,
        body: Type.Object(ProofFields, { additionalProperties: false }),
        response: { 204: NoContent, ...errorResponses(400, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      await core.email.confirmChange(proofOf(request.body), requestMeta(request))
      return reply.code(204).send(null)
    },
  )

  fastify.post(
    '/email/change/undo',
    {
      onRequest: limitPerIp('email-undo', codePerIp),
      schema: {
        tags: ['email'],
        summary: 'Undo a change of address from the old address',
        description: `${PROOF_NOTE} \`email\` is the old address. The account moves back, every session is revoked (reason email_change_undone), and the old address is mailed a password reset link: whoever made the change knew the password.`,
        body: Type.Object(ProofFields, { additionalProperties: false }),
        response: { 204: NoContent, ...errorResponses(400, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      await core.email.undoChange(proofOf(request.body), requestMeta(request))
      return reply.code(204).send(null)
    },
  )
}

export default change
