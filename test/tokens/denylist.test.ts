// The denylist's memory bound and catch-up logic, without a database.
import { describe, expect, it } from 'vitest'
import { Denylist, denylistRetentionMs, type DenylistSource } from '../../src/tokens/denylist.js'

function fakeSource() {
  const revoked: { id: string; revokedAt: Date }[] = []
  let now = new Date('2026-01-01T00:00:00Z')
  const queries: Date[] = []
  const source: DenylistSource = {
    async revokedSince(since, lookbackMs) {
      const from = since ?? new Date(now.getTime() - lookbackMs)
      queries.push(from)
      return { now, families: revoked.filter((r) => r.revokedAt > from) }
    },
    async revokedAmong(ids) {
      return revoked.filter((r) => ids.includes(r.id))
    },
  }
  return {
    source,
    queries,
    revoke: (id: string, agoMs = 0) => revoked.push({ id, revokedAt: new Date(now.getTime() - agoMs) }),
    advance: (ms: number) => (now = new Date(now.getTime() + ms)),
  }
}

const quietLog = { warn() {}, debug() {} }

describe('Denylist', () => {
  it('learns revocations from the catch-up query and forgets them after one access-token lifetime', async () => {
    const f = fakeSource()
    const list = new Denylist(f.source, { connectListener: () => Promise.reject(new Error('not listening in this test')), retainMs: 900_000, syncIntervalMs: 500, log: quietLog })
    f.revoke('fam-1')
    f.advance(1_000)
    await list.catchUp()
    expect(list.has('fam-1')).toBe(true)
    f.advance(899_000)
    await list.catchUp()
    expect(list.has('fam-1')).toBe(false)
    expect(list.size).toBe(0)
  })

  it('looks back far enough to catch a revocation that committed after the previous scan', async () => {
    const f = fakeSource()
    const list = new Denylist(f.source, { connectListener: () => Promise.reject(new Error('not listening in this test')), retainMs: 900_000, syncIntervalMs: 500, log: quietLog })
    await list.catchUp()
    f.advance(5_000)
    // revoked_at is its transaction's start, 10 s ago, before the previous scan; it only
    // became visible now, at commit.
    f.revoke('late', 10_000)
    await list.catchUp()
    expect(list.has('late')).toBe(true)
    // The cursor never goes further back than the margin: scans stay small.
    const last = f.queries.at(-1)!
    expect(last.getTime()).toBeGreaterThanOrEqual(new Date('2026-01-01T00:00:00Z').getTime() - 31_000)
  })

  it('entries added locally count at once', () => {
    const f = fakeSource()
    const list = new Denylist(f.source, { connectListener: () => Promise.reject(new Error('not listening in this test')), retainMs: 900_000, syncIntervalMs: 500, log: quietLog })
    list.add('mine')
    expect(list.has('mine')).toBe(true)
    expect(list.has('other')).toBe(false)
  })

  it('the retention covers the access-token lifetime plus the lock and statement timeouts', () => {
    expect(denylistRetentionMs(900, { lockTimeoutMs: 2000, statementTimeoutMs: 5000 })).toBe(907_000)
  })
})
