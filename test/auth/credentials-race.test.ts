// A password check and what it authorises must agree on the credentials: a login that
// verified the old password while the password was being changed must not start a session,
// and a password change that loses a race to another change must spend nothing.
//
// The services are built on a real database with a password hasher whose work can be held
// at a chosen point, so each interleaving happens exactly, not by chance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PasswordHasher } from '../../src/auth/password.js'
import { createTestDatabase } from '../helpers/database.js'
import { adminQuery } from '../helpers/database.js'
import { testConfig } from '../helpers/app.js'
import { uniqueEmail } from '../helpers/flows.js'
import { buildServices, type Services } from '../helpers/services.js'
import { hashRefreshToken } from '../../src/tokens/refresh-token.js'

/** A hasher whose next verify or hash waits until released. */
class HeldHasher extends PasswordHasher {
  private held: { op: 'verify' | 'hash'; reached: () => void; release: Promise<void> } | null = null

  /** Resolves `reached` when the next `op` starts; that op finishes once `release()` is called. */
  holdNext(op: 'verify' | 'hash') {
    let reached!: () => void
    let release!: () => void
    const reachedP = new Promise<void>((r) => (reached = r))
    const releaseP = new Promise<void>((r) => (release = r))
    this.held = { op, reached, release: releaseP }
    return { reached: reachedP, release }
  }

  private async gate(op: 'verify' | 'hash') {
    const h = this.held
    if (h?.op !== op) return
    this.held = null
    h.reached()
    await h.release
  }

  override async verify(hash: string | null, password: string) {
    const ok = await super.verify(hash, password)
    await this.gate('verify')
    return ok
  }

  override async hash(password: string) {
    const h = await super.hash(password)
    await this.gate('hash')
    return h
  }
}

const OLD = 'correct horse battery'
const NEW = 'new staple battery horse'
const meta = { ip: '192.0.2.1', userAgent: 'test' }

let db: { url: string; drop(): Promise<void> }
let s: Services
let hasher: HeldHasher
beforeAll(async () => {
  db = await createTestDatabase()
  const config = testConfig()
  hasher = new HeldHasher(config.argon2)
  s = await buildServices(config, db.url, { passwords: hasher })
})
afterAll(async () => {
  await s.close()
  await db.drop()
})

const liveFamilies = async (userId: string) =>
  (await adminQuery<{ id: string }>('SELECT id FROM auth.token_families WHERE user_id = $1 AND revoked_at IS NULL', [userId], db.url)).map((r) => r.id)

async function userWithSession() {
  const email = uniqueEmail()
  const user = await s.users.create(email, await new PasswordHasher(testConfig().argon2).hash(OLD))
  const session = await s.accounts.login(email, OLD, meta)
  return { user, email, session }
}

describe('a login racing a password change', () => {
  it('verified the old password before the change and would start its session after it: 401, no session', async () => {
    const { user, email, session } = await userWithSession()
    const held = hasher.holdNext('verify')
    const racingLogin = s.accounts.login(email, OLD, meta).then(
      () => 'logged in',
      (err: { code?: string }) => err.code,
    )
    await held.reached // the old password has been verified; the session is not created yet
    await s.accounts.changePassword({ userId: user.id, familyId: session.familyId, refreshToken: session.refreshToken, currentPassword: OLD, newPassword: NEW, meta })
    held.release()
    expect(await racingLogin).toBe('invalid_credentials')
    // Only the session that changed the password is alive.
    expect(await liveFamilies(user.id)).toEqual([session.familyId])
  })

  it('a login with the new password after the change works as usual', async () => {
    const { user, email, session } = await userWithSession()
    await s.accounts.changePassword({ userId: user.id, familyId: session.familyId, refreshToken: session.refreshToken, currentPassword: OLD, newPassword: NEW, meta })
    const next = await s.accounts.login(email, NEW, meta)
    expect((await liveFamilies(user.id)).sort()).toEqual([session.familyId, next.familyId].sort())
  })
})

describe('a password change that loses a race to another change', () => {
  it('answers 403 and spends nothing: the caller keeps its refresh token, and no theft alarm follows', async () => {
    const { user, session } = await userWithSession()
    const held = hasher.holdNext('hash')
    const change = s.accounts
      .changePassword({ userId: user.id, familyId: session.familyId, refreshToken: session.refreshToken, currentPassword: OLD, newPassword: NEW, meta })
      .then(
        () => 'changed',
        (err: { code?: string }) => err.code,
      )
    await held.reached // current password verified, new hash computed
    // Meanwhile the password changes by another way (another device, an operator).
    await adminQuery('UPDATE auth.users SET password_hash = $2 WHERE id = $1', [user.id, await new PasswordHasher(testConfig().argon2).hash('someone else s choice')], db.url)
    held.release()
    expect(await change).toBe('invalid_current_password')
    const [token] = await adminQuery('SELECT spent_at FROM auth.refresh_tokens WHERE token_hash = $1', [hashRefreshToken(session.refreshToken)], db.url)
    expect(token).toEqual({ spent_at: null })
    // The token still refreshes: nothing was rotated behind the caller's back.
    const next = await s.sessions.refresh(session.refreshToken, meta)
    expect(next.familyId).toBe(session.familyId)
  })

  it('a concurrent re-hash of the same password is not a lost race: the change goes through', async () => {
    const { user, email, session } = await userWithSession()
    const held = hasher.holdNext('hash')
    const change = s.accounts.changePassword({ userId: user.id, familyId: session.familyId, refreshToken: session.refreshToken, currentPassword: OLD, newPassword: NEW, meta })
    await held.reached
    // The same password, stored again at another cost (what a login does after a cost change).
    const rehashed = await new PasswordHasher({ ...testConfig().argon2, timeCost: 2 }).hash(OLD)
    await adminQuery('UPDATE auth.users SET password_hash = $2 WHERE id = $1', [user.id, rehashed], db.url)
    held.release()
    const issued = await change
    expect(issued.familyId).toBe(session.familyId)
    await expect(s.accounts.login(email, NEW, meta)).resolves.toMatchObject({ userId: user.id })
  })
})
