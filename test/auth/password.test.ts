// The argon2id hasher: what it accepts, and how many hashes it runs at once.
import { availableParallelism } from 'node:os'
import { describe, expect, it } from 'vitest'
import { PasswordHasher, defaultConcurrency } from '../../src/auth/password.js'

const CHEAP = { memoryKiB: 1024, timeCost: 1, parallelism: 1 }

describe('PasswordHasher', () => {
  it('verifies what it hashed, NFC-normalised, and nothing else', async () => {
    const h = new PasswordHasher(CHEAP)
    const hash = await h.hash('caf\u00e9 au lait')
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/)
    expect(await h.verify(hash, 'cafe\u0301 au lait')).toBe(true)
    expect(await h.verify(hash, 'cafe au lait')).toBe(false)
    expect(await h.verify('not a hash', 'cafe au lait')).toBe(false)
  })

  it('an account that does not exist is verified against a hash of the configured cost, and fails', async () => {
    const h = new PasswordHasher(CHEAP)
    expect(await h.verify(null, 'anything at all')).toBe(false)
    // The dummy is made of random bytes, not computed: a new hasher costs no hash.
    const started = performance.now()
    new PasswordHasher({ memoryKiB: 65_536, timeCost: 10, parallelism: 1 })
    expect(performance.now() - started).toBeLessThan(50)
  })

  it('runs at most `concurrency` at once; the others wait their turn and all finish', async () => {
    const h = new PasswordHasher({ ...CHEAP, concurrency: 2 })
    const hash = await h.hash('one password here')
    const peaks: number[] = []
    const sample = setInterval(() => peaks.push(h.load.running), 1)
    const all = Array.from({ length: 8 }, (_, i) => h.verify(hash, i % 2 ? 'one password here' : 'another password'))
    expect(h.load).toEqual({ running: 2, waiting: 6 })
    const results = await Promise.all(all)
    clearInterval(sample)
    expect(results).toEqual([false, true, false, true, false, true, false, true])
    expect(Math.max(...peaks)).toBe(2)
    expect(h.load).toEqual({ running: 0, waiting: 0 })
  })

  it('a failing hash frees its slot', async () => {
    const h = new PasswordHasher({ ...CHEAP, concurrency: 1 })
    await expect(h.verify('$argon2id$v=19$m=1024,t=1,p=1$!!!$!!!', 'x')).resolves.toBe(false)
    expect(h.load).toEqual({ running: 0, waiting: 0 })
    expect(await h.verify(await h.hash('still works'), 'still works')).toBe(true)
  })

  it('by default runs one hash per core, and one more while libuv has a thread to spare for it', () => {
    // cores, libuv threads -> hashes at once
    expect([1, 2, 3, 4, 8].map((cores) => defaultConcurrency(cores, 4))).toEqual([2, 3, 3, 4, 8])
    expect(defaultConcurrency(2, 2)).toBe(2)
    expect(defaultConcurrency(4, 8)).toBe(5)
    const h = new PasswordHasher(CHEAP)
    const all = Array.from({ length: 6 }, () => h.verify(null, 'anything'))
    expect(h.load.running).toBe(defaultConcurrency(availableParallelism(), Number(process.env.UV_THREADPOOL_SIZE) || 4))
    return Promise.all(all)
  })
})
