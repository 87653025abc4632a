import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { decodeCursor, encodeCursor } from '../../src/audit/cursor.js'

describe('audit pagination cursor', () => {
  it('round-trips a position', () => {
    const p = { createdAt: new Date('2026-11-27T04:05:06.789Z'), id: randomUUID() }
    const c = encodeCursor(p)
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(decodeCursor(c)).toEqual(p)
  })

  it('refuses anything it did not make', () => {
    const good = encodeCursor({ createdAt: new Date(), id: randomUUID() })
    const made = (s: string) => Buffer.from(s).toString('base64url')
    for (const bad of [
      '',
      'not base64!',
      good + '=',
      made('2026-11-27T04:05:06.789Z'),
      made(`2026-11-27T04:05:06.789Z|not-a-uuid`),
      made(`yesterday|${randomUUID()}`),
      made(`2026-11-27T04:05:06.789Z|${randomUUID()}|extra`),
      made(`2026-02-30T00:00:00.000Z|${randomUUID()}`),
      'A'.repeat(500),
    ]) {
      expect(decodeCursor(bad), bad).toBeNull()
    }
  })
})
