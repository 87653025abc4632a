// The mail flows through the SDK, in both transports: forgot and reset (which logs out every
// tab when this client's session was among those the reset ended), verification (a logged-in
// client picks up the new claim), and the change of address with its undo.
import { describe, expect, it, vi } from 'vitest'
import { AuthError, createAuthClient, memoryStorage, type AuthClient, type TokenStorage } from '../../client/src/index.js'
import { FakeApi, FakeHub, FakeLocks, tick } from './fakes.js'

const PASSWORD = 'correct horse battery'

function tabs(transport: 'cookie' | 'bearer', api = new FakeApi()) {
  const hub = new FakeHub()
  const locks = new FakeLocks()
  const shared: TokenStorage = memoryStorage()
  const open = () => {
    const onLogout = vi.fn()
    const client = createAuthClient({ baseUrl: 'http://api.test', transport, fetch: api.fetch, storage: shared, onLogout, crossTab: { locks, channel: hub.channel() } })
    return { client, onLogout }
  }
  return { api, open, shared }
}

const callsTo = (api: FakeApi, path: string) => api.calls.filter((c) => c.path === path)

for (const transport of ['cookie', 'bearer'] as const) {
  describe(`${transport}: password reset`, () => {
    it('forgotPassword() posts the address and resolves on 202', async () => {
      const { api, open } = tabs(transport)
      await open().client.forgotPassword('ada@example.com')
      expect(api.mailed).toEqual([{ route: 'POST /password/forgot', body: { email: 'ada@example.com' } }])
      const [call] = callsTo(api, '/auth/password/forgot')
      expect(call!.headers.get('content-type')).toBe('application/json')
      if (transport === 'cookie') expect(call!.headers.get('x-auth-transport')).toBe('cookie')
    })

    it('resetPassword() with the link token: the session it ended logs out here and in the other tab at once', async () => {
      const { api, open } = tabs(transport)
      const here = open()
      const there = open()
      await here.client.login('ada@example.com', PASSWORD)
      await tick()
      expect(there.client.state).toBe('authenticated')
      await here.client.resetPassword({ token: api.resetToken }, 'a brand new passphrase')
      await tick()
      expect(api.password).toBe('a brand new passphrase')
      expect(callsTo(api, '/auth/password/reset')[0]!.body).toEqual({ token: 'reset-token', new_password: 'a brand new passphrase' })
      expect(here.client.state).toBe('anonymous')
      expect(here.onLogout).toHaveBeenCalledWith({ reason: 'session_revoked', remote: false })
      expect(there.client.state).toBe('anonymous')
      expect(there.onLogout).toHaveBeenCalledWith({ reason: 'session_revoked', remote: true })
    })

    it('resetPassword() with the code, from a client that is logged out: no refresh is tried', async () => {
      const { api, open } = tabs(transport)
      const { client } = open()
      await client.refresh().catch(() => {}) // finds out it is anonymous
      api.calls = []
      await client.resetPassword({ email: 'ada@example.com', code: '123456' }, 'a brand new passphrase')
      expect(api.calls.map((c) => c.path)).toEqual(['/auth/password/reset'])
      expect(callsTo(api, '/auth/password/reset')[0]!.body).toEqual({ email: 'ada@example.com', code: '123456', new_password: 'a brand new passphrase' })
    })

    it('a server that logs in after a reset: the client is logged in', async () => {
      const api = new FakeApi()
      api.resetLogsIn = true
      const { open, shared } = tabs(transport, api)
      const { client } = open()
      await client.resetPassword({ token: api.resetToken }, 'a brand new passphrase')
      expect(client.state).toBe('authenticated')
      expect((await client.me()).email).toBe('ada@example.com')
      if (transport === 'bearer') expect(await shared.get()).toMatchObject({ accessToken: expect.any(String) })
    })

    it('a refused link is AuthError invalid_email_token, and the session is untouched', async () => {
      const { open } = tabs(transport)
      const { client, onLogout } = open()
      await client.login('ada@example.com', PASSWORD)
      const err = await client.resetPassword({ token: 'wrong' }, 'a brand new passphrase').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(AuthError)
      expect(err).toMatchObject({ kind: 'rejected', code: 'invalid_email_token', status: 400 })
      expect(client.state).toBe('authenticated')
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('a proof that is neither a token nor an address and code is a TypeError before any request', async () => {
      const { api, open } = tabs(transport)
      await expect(open().client.resetPassword({ code: '123456' } as never, 'x'.repeat(10))).rejects.toThrow(TypeError)
      expect(api.calls).toEqual([])
    })
  })

  describe(`${transport}: verification and change of address`, () => {
    it('verifyEmail() while logged in refreshes, so the next answers carry email_verified', async () => {
      const { api, open } = tabs(transport)
      const { client } = open()
      await client.login('ada@example.com', PASSWORD)
      expect((await client.me()).email_verified).toBe(false)
      api.calls = []
      await client.verifyEmail({ email: 'ada@example.com', code: '123456' })
      expect(api.calls.map((c) => c.path)).toEqual(['/auth/email/verify', '/auth/refresh'])
      expect((await client.me()).email_verified).toBe(true)
      expect(client.state).toBe('authenticated')
    })

    it('resendVerification() resolves on 202', async () => {
      const { api, open } = tabs(transport)
      await open().client.resendVerification('ada@example.com')
      expect(api.mailed).toEqual([{ route: 'POST /email/verify/resend', body: { email: 'ada@example.com' } }])
    })

    it('changeEmail() is an authenticated call; a wrong password is rejected without logging out', async () => {
      const { api, open } = tabs(transport)
      const { client, onLogout } = open()
      await client.login('ada@example.com', PASSWORD)
      await client.changeEmail('ada@new.example', PASSWORD)
      expect(api.mailed).toEqual([{ route: 'POST /email/change', body: { new_email: 'ada@new.example', password: PASSWORD } }])
      const call = callsTo(api, '/auth/email/change')[0]!
      expect(call.headers.get('authorization') ?? call.cookies.access).toBeTruthy()
      await expect(client.changeEmail('ada@new.example', 'wrong')).rejects.toMatchObject({ code: 'invalid_current_password', kind: 'rejected' })
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('confirmEmailChange() then undoEmailChange(): the undo ends every session, so this client logs out', async () => {
      const { api, open } = tabs(transport)
      const { client, onLogout } = open()
      await client.login('ada@example.com', PASSWORD)
      await client.confirmEmailChange({ token: api.changeToken })
      expect(client.state).toBe('authenticated')
      await client.undoEmailChange({ token: api.undoToken })
      expect(client.state).toBe('anonymous')
      expect(onLogout).toHaveBeenCalledWith({ reason: 'session_revoked', remote: false })
    })
  })
}

describe('register', () => {
  it('resolves with the address on 202 (verification on) and with the id too on 201', async () => {
    const api = new FakeApi()
    const client: AuthClient = createAuthClient({ baseUrl: 'http://api.test', transport: 'bearer', fetch: api.fetch, crossTab: false })
    expect(await client.register('ada@example.com', PASSWORD)).toEqual({ id: 'u1', email: 'ada@example.com' })
    const accepted = createAuthClient({
      baseUrl: 'http://api.test',
      transport: 'bearer',
      crossTab: false,
      fetch: async () => new Response(JSON.stringify({ email: 'ada@example.com' }), { status: 202, headers: { 'content-type': 'application/json' } }),
    })
    expect(await accepted.register('ada@example.com', PASSWORD)).toEqual({ email: 'ada@example.com' })
  })
})
