// The goals the bench report holds each comparison to (issue 14's table), and only those.
import { expect, it } from 'vitest'
import { goalFor } from '../../bench/report.js'

it('one token ≥ 0.75 and many tokens ≥ 0.60 of the bare route, for /me and a host route; refresh ≥ 0.50 with p99 < 50 ms; login ≥ 0.90', () => {
  const g = (id: string, ceilingId: string, instances = 1) => goalFor({ id, ceilingId, instances })
  expect([g('me-1', 'ceiling-a'), g('notes-1', 'ceiling-a')]).toEqual([{ ratio: 0.75 }, { ratio: 0.75 }])
  expect([g('me-200', 'ceiling-a'), g('notes-200', 'ceiling-a')]).toEqual([{ ratio: 0.6 }, { ratio: 0.6 }])
  expect(g('refresh', 'ceiling-b')).toEqual({ ratio: 0.5, p99Ms: 50 })
  expect(g('login', 'ceiling-c')).toEqual({ ratio: 0.9 })
  // no goal: beside the verify ceiling (what caching must beat), 2 processes, logged requests
  expect([g('me-200', 'ceiling-a2'), g('me-200-x2', 'ceiling-a-x2', 2), g('refresh-x2', 'ceiling-b', 2), g('me-1-logged', 'ceiling-a')]).toEqual([null, null, null, null])
})
