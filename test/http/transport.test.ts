// countCookie must see a cookie exactly where @fastify/cookie's parser does: a copy the
// parser could have picked but the count missed would be read without being refused.
import fc from 'fast-check'
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countCookie } from '../../src/http/transport.js'

const app = Fastify()
beforeAll(async () => {
  await app.register(cookie)
  await app.ready()
})
afterAll(() => app.close())

describe('countCookie', () => {
  it('counts every pair of that exact name, however it is spaced, and nothing else', () => {
    expect(countCookie(undefined, 'a')).toBe(0)
    expect(countCookie('', 'a')).toBe(0)
    expect(countCookie('a=1', 'a')).toBe(1)
    expect(countCookie('a=1; a=2', 'a')).toBe(2)
    expect(countCookie('a=1;a=1', 'a')).toBe(2)
    expect(countCookie(' \ta \t=1; b=2;a=', 'a')).toBe(2)
    expect(countCookie('xa=1; a_b=2; A=3; a', 'a')).toBe(0)
    expect(countCookie('b=a=1; a==2', 'a')).toBe(1)
    expect(countCookie('%61=1', 'a')).toBe(0) // names are not decoded, by us or by the parser
  })

  it('finds a name exactly when the parser does, on arbitrary headers', () => {
    const name = fc.constantFrom('a', ' a', 'a ', '\ta', 'b', 'ab', '', 'A')
    const value = fc.string({ maxLength: 6 }).map((v) => v.replace(/;/g, ''))
    const pair = fc.oneof(
      fc.tuple(name, value).map(([n, v]) => `${n}=${v}`),
      fc.string({ maxLength: 6 }).map((v) => v.replace(/;/g, '')), // junk without a pair shape
    )
    const header = fc.array(pair, { maxLength: 6 }).chain((pairs) =>
      fc.constantFrom(';', '; ', ' ;', ';\t').map((sep) => pairs.join(sep)),
    )
    fc.assert(
      fc.property(header, (h) => {
        const parsed = app.parseCookie(h)
        expect(countCookie(h, 'a') > 0).toBe(parsed.a !== undefined)
      }),
      { numRuns: 2000, seed: 20261127 },
    )
  })
})
