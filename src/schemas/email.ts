// Schema pieces of the mail flows: what a client sends back from a mail.
import { ApiError } from '../errors.js'
import type { EmailProof } from '../auth/mail-tokens.js'
import { StoredString, Type } from './common.js'

export const EmailField = StoredString({ minLength: 3, maxLength: 320 })

/** A mail's link token or its code, with the address the mail went to. */
export const ProofFields = {
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: "the link's `token` query parameter" })),
  email: Type.Optional(StoredString({ minLength: 3, maxLength: 320, description: 'with `code`: the address the mail went to' })),
  code: Type.Optional(Type.String({ pattern: '^[0-9]{6}$', description: 'with `email`: the 6-digit code of the mail' })),
}

export const PROOF_NOTE =
  'Send either `token` (from the link) or `email` and `code` (typed from the mail). Every failure (unknown, wrong, expired, used, guessed too often) is the same 400 invalid_email_token; a code dies after a few wrong guesses.'

/** Exactly one of the two ways, or 400 invalid_request. */
export function proofOf(body: { token?: string; email?: string; code?: string }): EmailProof {
  const byToken = body.token !== undefined
  const byCode = body.email !== undefined || body.code !== undefined
  if (byToken && !byCode) return { token: body.token! }
  if (!byToken && body.email !== undefined && body.code !== undefined) return { email: body.email, code: body.code }
  throw new ApiError('invalid_request', 'Send either token, or email and code.')
}
