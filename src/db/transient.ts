// Which database failures are "try again" rather than "you are wrong". These answer 503 with
// Retry-After and must never be turned into a logout.
const TRANSIENT_SQLSTATES = new Set([
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '53300', // too_many_connections
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', '08003', '08006', '08001', '08004',
])
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'])
// Prisma: P1001 can't reach server, P1002 timed out, P1008 operation timeout, P1017 server
// closed connection, P2024 pool timeout, P2028 transaction API error (timeout/expired), P2034
// write conflict.
const TRANSIENT_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2034'])
// @prisma/adapter-pg classifies some failures itself and passes only a kind, no SQLSTATE:
// err.meta.driverAdapterError.cause = { kind: 'DatabaseNotReachable', host, port }.
const TRANSIENT_ADAPTER_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'TransactionAlreadyClosed',
  'TransactionWriteConflict',
])
const TRANSIENT_MESSAGES = [
  /timeout exceeded when trying to connect/i,
  /Connection terminated/i,
  /Transaction already closed/i,
  /Unable to start a transaction in the given time/i,
  /Client has encountered a connection error/i,
  /connection (is )?(closed|ended)/i,
]

export function isTransientDbError(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 6) return false
  const e = err as Record<string, unknown>
  const code = typeof e.code === 'string' ? e.code : undefined
  if (code && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code) || TRANSIENT_PRISMA_CODES.has(code))) {
    return true
  }
  if (typeof e.kind === 'string' && TRANSIENT_ADAPTER_KINDS.has(e.kind)) return true
  const original = e.originalCode ?? (e.meta as Record<string, unknown> | undefined)?.code
  if (typeof original === 'string' && TRANSIENT_SQLSTATES.has(original)) return true
  if (typeof e.message === 'string' && TRANSIENT_MESSAGES.some((re) => re.test(e.message as string))) return true
  // Prisma nests the driver's error: err.meta.driverAdapterError.cause.code = '55P03'.
  return ['cause', 'meta', 'driverAdapterError'].some((k) => isTransientDbError(e[k], depth + 1))
}
