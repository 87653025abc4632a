// How errors become answers, for the plugin's routes and the standalone server's: the
// catalogue's shape (`{error, error_description}`) with a stable code, never a stack trace.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { Socket } from 'node:net'
import { ApiError, type ErrorCode } from '../errors.js'
import { isTransientDbError } from '../db/transient.js'
import { PATTERN_DESCRIPTIONS } from '../schemas/common.js'

// Fastify's own codes for malformed requests, and the stable code each becomes.
const FASTIFY_CLIENT_ERRORS: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
}

/**
 * Transient database failures are recognised here, in one place, and answer 503 with
 * Retry-After: never a 500, and never anything a client would take for a logout.
 */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const known =
    error instanceof ApiError
      ? error
      : isTransientDbError(error)
        ? new ApiError('service_unavailable', 'The database is busy or unreachable; retry shortly.', 1)
        : null
  if (known) {
    if (known.retryAfterSec !== undefined) reply.header('retry-after', String(known.retryAfterSec))
    if (known.wwwAuthenticate !== undefined) reply.header('www-authenticate', known.wwwAuthenticate)
    if (known.statusCode >= 500) request.log.warn({ code: known.code, ...(known === error ? {} : { err: error }) }, known.message)
    return reply.code(known.statusCode).send(known.toBody())
  }
  if (error.validation) {
    const e = new ApiError('invalid_request', validationDescription(error))
    return reply.code(e.statusCode).send(e.toBody())
  }
  const mapped = error.code ? FASTIFY_CLIENT_ERRORS[error.code] : undefined
  if (mapped || (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)) {
    const e = new ApiError(mapped ?? 'invalid_request')
    return reply.code(mapped ? e.statusCode : error.statusCode!).send(e.toBody())
  }
  request.log.error({ err: error }, 'unhandled error')
  return reply.code(500).send(new ApiError('server_error').toBody())
}

function validationDescription(error: FastifyError): string {
  const context = error.validationContext ?? 'request'
  const first = error.validation![0]
  // A control-character pattern is stated in words and names the field, never as the regex.
  const words = first?.keyword === 'pattern' ? PATTERN_DESCRIPTIONS[String(first.params.pattern)] : undefined
  if (words) return `${context}${first!.instancePath} ${words}`
  return `${context} ${first?.message ?? 'is invalid'}`.trim()
}

/**
 * Requests Node rejects before Fastify sees them (oversized headers, a broken request line)
 * still get the catalogue's shape instead of Fastify's default body. A server option: the
 * standalone server sets it.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW'
  const e = new ApiError(tooLarge ? 'request_header_too_large' : 'invalid_request')
  const body = JSON.stringify(e.toBody())
  socket.end(
    `HTTP/1.1 ${e.statusCode} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}
