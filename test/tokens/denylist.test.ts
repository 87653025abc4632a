// The denylist's memory bound and catch-up logic, without a database.
import { describe, expect, it } from 'vitest'
import { Denylist, denylistRetentionMs, type DenylistSource } from '../../src/tokens/denylist.js'

function fakeSource() {
  const revoked: { id: string; revokedAt: Date; reason: string | null }[] = []
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
    revoke: (id: string, agoMs = 0, reason: string | null = 'logout') => revoked.push({ id, revokedAt: new Date(now.getTime() - agoMs), reason }),
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
    list.add('mine', 'logout')
    expect(list.has('mine')).toBe(true)
    expect(list.has('other')).toBe(false)
  })

  it('keeps when and why each session was revoked, and tells an observer each sid once, as it learns it', async () => {
    const f = fakeSource()
    const list = new Denylist(f.source, { connectListener: () => Promise.reject(new Error('not listening in this test')), retainMs: 900_000, syncIntervalMs: 500, log: quietLog })
    const heard: { sid: string; revokedAt: number; reason: string }[] = []
    const stop = list.observe((e) => heard.push(e))
    f.revoke('by-admin', 2_000, 'admin')
    f.revoke('from-an-old-row', 1_000, null)
    await list.catchUp()
    list.add('by-admin', 'admin', new Date('2026-01-01T00:00:00Z').getTime() - 2_000) // learnt again: not news
    list.add('here', 'reuse_detected', 5)
    expect(heard).toEqual([
      { sid: 'by-admin', revokedAt: new Date('2026-01-01T00:00:00Z').getTime() - 2_000, reason: 'admin' },
      { sid: 'from-an-old-row', revokedAt: new Date('2026-01-01T00:00:00Z').getTime() - 1_000, reason: 'unknown' },
      { sid: 'here', revokedAt: 5, reason: 'reuse_detected' },
    ])
    expect(list.entriesSince(new Date('2026-01-01T00:00:00Z').getTime() - 1_500).map((e) => e.sid)).toEqual(['from-an-old-row'])
    expect(list.completeUntil).toBe(new Date('2026-01-01T00:00:00Z').getTime() - 30_000)
    stop()
    list.add('unheard', 'logout')
    expect(heard).toHaveLength(3)
  })

  it('the retention covers the access-token lifetime plus the lock and statement timeouts', () => {
    expect(denylistRetentionMs(900, { lockTimeoutMs: 2000, statementTimeoutMs: 5000 })).toBe(907_000)
  })
})
