import { expect, it } from 'vitest'
import { uuidv7 } from '../../src/db/uuid-v7.js'

it('is an RFC 9562 version 7 UUID: the millisecond time first, then random bits', () => {
  const at = Date.UTC(2026, 11, 6, 12, 0, 0, 123)
  const id = uuidv7(at)
  expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at)
  // Random after the time: two ids of one millisecond differ.
  expect(uuidv7(at)).not.toBe(id)
})

it('orders by creation time, as text and as Postgres compares uuids (bytewise)', () => {
  const ids = [0, 1, 2, 1000, 86_400_000].map((d) => uuidv7(Date.UTC(2026, 0, 1) + d))
  expect([...ids].sort()).toEqual(ids)
})

it('draws its random bits from a pool refilled as it runs out: 10 000 ids of one millisecond are all different', () => {
  const at = Date.UTC(2026, 11, 6)
  const ids = Array.from({ length: 10_000 }, () => uuidv7(at))
  expect(new Set(ids).size).toBe(10_000)
  // and no 10-byte random part repeats across the refills either
  expect(new Set(ids.map((id) => id.replace(/-/g, '').slice(12))).size).toBe(10_000)
})
