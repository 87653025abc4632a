// Which database failures answer 503 ("try again") rather than 500 or a client error.
import { describe, expect, it } from 'vitest'
import { isTransientDbError } from '../../src/db/transient.js'

// The shape Prisma 7 threw in the outage test when a login's statement found Postgres gone:
// no SQLSTATE anywhere, only the adapter's own classification.
const unreachable = {
  name: 'PrismaClientKnownRequestError',
  code: 'P2010',
  message: "Raw query failed. Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:46205`",
  meta: { driverAdapterError: { name: 'DriverAdapterError', cause: { kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 46205 } } },
}
const adapterError = (cause: object) => ({ ...unreachable, message: 'Raw query failed.', meta: { driverAdapterError: { name: 'DriverAdapterError', cause } } })

describe('isTransientDbError', () => {
  it('an unreachable database, as the pg adapter reports it, is transient', () => {
    expect(isTransientDbError(unreachable)).toBe(true)
  })

  it.each(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionAlreadyClosed', 'TransactionWriteConflict'])(
    'adapter kind %s is transient',
    (kind) => expect(isTransientDbError(adapterError({ kind }))).toBe(true),
  )

  it('a lock timeout passed through as a postgres SQLSTATE is transient', () => {
    expect(isTransientDbError(adapterError({ kind: 'postgres', code: '55P03' }))).toBe(true)
  })

  it.each([
    ['a unique violation', adapterError({ kind: 'UniqueConstraintViolation', constraint: { fields: ['email'] } })],
    ['a missing table', adapterError({ kind: 'TableDoesNotExist', table: 'users' })],
    ['a syntax error', adapterError({ kind: 'postgres', code: '42601' })],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
  ])('%s is not', (_name, err) => {
    expect(isTransientDbError(err)).toBe(false)
  })
})
