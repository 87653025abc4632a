// The per-account ceiling on failed logins, across every client address: past a threshold,
// a login for that address needs a proof of work bound to the password it tries. It slows a
// guesser spread over many addresses; it never locks anyone out, and the owner with the right
// password and a proof always gets in.
//
// The solver here is written from the documented rule alone (README, Limits), not from the
// server's code: find `nonce` such that
//   SHA-256(challenge + "." + hex(SHA-256(NFC(password))) + "." + nonce)
// starts with `difficulty` zero bits.
import { PasswordHasher } from '../../../src/auth/password.js'
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { register, uniqueEmail } from '../../helpers/flows.js'
import { attemptKey } from '../../../src/limits/policy.js'

let t: TestApp
beforeAll(async () => {
  // A proof after 3 failures of one account from anywhere: 4 bits, +1 per doubling, at most 6.
  t = await buildTestApp({ env: { LOGIN_POW_AFTER_FAILURES: '3', LOGIN_POW_BASE_BITS: '4', LOGIN_POW_MAX_BITS: '6' } })
})
afterAll(() => t.close())

const OWNER_IP = '127.0.0.1'
let nextIp = 1
/** a fresh client address each call: a guesser with many addresses */
const anotherIp = () => `198.18.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 1}`

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest()
function leadingZeroBits(b: Buffer): number {
  let n = 0
  for (const byte of b) {
    if (byte === 0) {
      n += 8
      continue
    }
    return n + Math.clz32(byte) - 24
  }
  return n
}
function solve(challenge: string, difficulty: number, password: string): string {
  const ph = sha256(password.normalize('NFC')).toString('hex')
  for (let i = 0; ; i++) {
    const nonce = i.toString(36)
    if (leadingZeroBits(sha256(`${challenge}.${ph}.${nonce}`)) >= difficulty) return nonce
  }
}

interface Challenge {
  challenge: string
  difficulty: number
}
const login = (email: string, password: string, remoteAddress = anotherIp(), proof?: { challenge: string; nonce: string }) =>
  t.app.inject({ method: 'POST', url: '/auth/login', payload: proof ? { email, password, proof } : { email, password }, remoteAddress })

/** A login that solves the challenge it is given, as the SDK does; returns both answers. */
async function loginWithProof(email: string, password: string, remoteAddress = anotherIp()) {
  const first = await login(email, password, remoteAddress)
  if (first.json().error !== 'proof_of_work_required') return { first, second: first }
  const { challenge, difficulty } = first.json() as Challenge
  const second = await login(email, password, remoteAddress, { challenge, nonce: solve(challenge, difficulty, password) })
  return { first, second }
}

/** `n` wrong passwords for `email`, each from a new address, each with a proof when asked. */
async function failFromMany(email: string, n: number) {
  for (let i = 0; i < n; i++) {
    const { second } = await loginWithProof(email, `wrong guess ${i}`)
    expect(second.json().error).toBe('invalid_credentials')
  }
}

function expectChallenge(res: Awaited<ReturnType<typeof login>>): Challenge {
  expect(res.statusCode, res.body).toBe(401)
  const body = res.json()
  expect(body).toEqual({ error: 'proof_of_work_required', error_description: expect.any(String), challenge: expect.any(String), difficulty: expect.any(Number) })
  expect(res.headers['retry-after']).toBeUndefined()
  return body as Challenge
}

const ownAddressCounter = async (email: string, ip = OWNER_IP) =>
  (await adminQuery<{ failures: number; locked_until: Date | null }>('SELECT failures, locked_until FROM auth.login_attempts WHERE key = $1', [attemptKey(email, ip)], t.databaseUrl))[0] ?? null

describe('per-account ceiling on failed logins, across all addresses', () => {
  it('below the threshold nothing changes; past it, from any address, the answer is proof_of_work_required', async () => {
    const user = await register(t.app)
    for (let i = 0; i < 3; i++) expect((await login(user.email, `wrong ${i}!!`)).json().error).toBe('invalid_credentials')
    const c = expectChallenge(await login(user.email, 'wrong 3!!'))
    expect(c.difficulty).toBe(4)
    expect(c.challenge.length).toBeLessThanOrEqual(200)
    // even the right password, from an address that never failed, needs the proof
    expectChallenge(await login(user.email, user.password, anotherIp()))
  })

  it('an answer without a valid proof costs no argon2 and counts no failure', async () => {
    const user = await register(t.app)
    await failFromMany(user.email, 3)
    const verify = vi.spyOn(PasswordHasher.prototype, 'verify')
    try {
      const ip = anotherIp()
      let last: Challenge | undefined
      for (let i = 0; i < 10; i++) last = expectChallenge(await login(user.email, `wrong ${i}!!`, ip))
      expect(verify).not.toHaveBeenCalled()
      // neither this address's counter nor the account's moved: the difficulty did not grow
      expect(await ownAddressCounter(user.email, ip)).toBeNull()
      expect(last!.difficulty).toBe(4)
    } finally {
      verify.mockRestore()
    }
  })

  it('a wrong password with a valid proof is 401 invalid_credentials, and every guess costs a new proof', async () => {
    const user = await register(t.app)
    await failFromMany(user.email, 3)
    const ip = anotherIp()
    const c = expectChallenge(await login(user.email, 'guess one', ip))
    const proof = { challenge: c.challenge, nonce: solve(c.challenge, c.difficulty, 'guess one') }
    const wrong = await login(user.email, 'guess one', ip, proof)
    expect(wrong.statusCode).toBe(401)
    expect(wrong.json()).toEqual({ error: 'invalid_credentials', error_description: expect.any(String) })
    // the next guess needs another proof, and the spent one does not count twice
    expectChallenge(await login(user.email, 'guess two', ip))
    expectChallenge(await login(user.email, 'guess one', anotherIp(), proof))
  })

  it('a proof for one password does not verify for another', async () => {
    const user = await register(t.app)
    await failFromMany(user.email, 3)
    const c = expectChallenge(await login(user.email, 'guess a!!'))
    const nonce = solve(c.challenge, c.difficulty, 'guess a!!')
    const verify = vi.spyOn(PasswordHasher.prototype, 'verify')
    try {
      // (a nonce may pass for another password by chance, 1 in 2^difficulty; this one is checked)
      const other = ['guess b!!', user.password].filter((p) => leadingZeroBits(sha256(`${c.challenge}.${sha256(p).toString('hex')}.${nonce}`)) < c.difficulty)
      for (const p of other) expectChallenge(await login(user.email, p, anotherIp(), { challenge: c.challenge, nonce }))
      expect(verify).not.toHaveBeenCalled()
    } finally {
      verify.mockRestore()
    }
  })

  it('a forged, altered or other account\'s challenge is no proof', async () => {
    const user = await register(t.app)
    const other = await register(t.app)
    await failFromMany(user.email, 3)
    await failFromMany(other.email, 3)
    const mine = expectChallenge(await login(user.email, user.password))
    const theirs = expectChallenge(await login(other.email, user.password))
    const parts = mine.challenge.split('.')
    const easier = [...parts.slice(0, -3), '0', ...parts.slice(-2)].join('.')
    for (const challenge of [theirs.challenge, easier, `${mine.challenge}x`, 'v1.1.2.3']) {
      const res = await login(user.email, user.password, anotherIp(), { challenge, nonce: solve(challenge, mine.difficulty, user.password) })
      expectChallenge(res)
    }
  })

  it('the owner with the right password and a valid proof gets in, and the counters start again', async () => {
    const user = await register(t.app)
    await failFromMany(user.email, 5)
    const { first, second } = await loginWithProof(user.email, user.password, OWNER_IP)
    expectChallenge(first)
    expect(second.statusCode, second.body).toBe(200)
    expect(second.json().access_token).toEqual(expect.any(String))
    // reset as today: the next login needs no proof
    expect((await login(user.email, user.password, OWNER_IP)).statusCode).toBe(200)
  })

  it('others\' failures never set a lock on the owner\'s address, however many', async () => {
    const user = await register(t.app)
    await failFromMany(user.email, 14)
    expect(await ownAddressCounter(user.email)).toBeNull()
    const { second } = await loginWithProof(user.email, user.password, OWNER_IP)
    expect(second.statusCode).toBe(200)
  })

  it('the difficulty grows one bit per doubling of the failures, up to the cap', async () => {
    const user = await register(t.app)
    const seen: number[] = []
    for (let failures = 3; failures <= 25; failures++) {
      await failFromMany(user.email, failures === 3 ? 3 : 1)
      if ([3, 5, 6, 11, 12, 24, 25].includes(failures)) seen.push(expectChallenge(await login(user.email, 'probe!!!')).difficulty)
    }
    // 3..5 failures: 4 bits; 6..11: 5; 12 and more: 6 (the cap)
    expect(seen).toEqual([4, 4, 5, 5, 6, 6, 6])
  })

  it('parallel guesses at the threshold cannot slip in without a proof', async () => {
    const user = await register(t.app)
    await failFromMany(user.email, 2)
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => login(user.email, `parallel ${i}!`)))
    const codes = results.map((r) => r.json().error)
    expect(codes.filter((c) => c === 'invalid_credentials')).toHaveLength(1)
    expect(codes.filter((c) => c === 'proof_of_work_required')).toHaveLength(11)
  })

  it('an address with no account answers exactly as one with an account', async () => {
    const user = await register(t.app)
    const unknown = uniqueEmail()
    const run = async (email: string) => {
      const out: string[] = []
      for (let i = 0; i < 7; i++) {
        const { first, second } = await loginWithProof(email, `wrong ${i}!!`)
        for (const r of [first, second]) {
          const { challenge, ...rest } = r.json() as Record<string, unknown>
          out.push(`${r.statusCode} ${r.headers['retry-after'] ?? '-'} ${JSON.stringify(rest)} ${typeof challenge}`)
        }
      }
      return out
    }
    const [known, nobody] = [await run(user.email), await run(unknown)]
    expect(nobody).toEqual(known)
    expect(known.filter((l) => l.includes('proof_of_work_required')).length).toBe(4)
  })

  it('a malformed proof is 400 invalid_request, never a 500', async () => {
    for (const proof of [{ challenge: 'x' }, { challenge: 'x'.repeat(1000), nonce: '1' }, { challenge: 'x', nonce: 'ü'.repeat(5) }, { challenge: 'x', nonce: '' }, 'abc', 42]) {
      const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: uniqueEmail(), password: 'whatever123', proof } })
      expect(res.statusCode, JSON.stringify(proof)).toBe(400)
      expect(res.json().error).toBe('invalid_request')
    }
  })
})
