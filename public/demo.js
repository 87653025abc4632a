// The demo page's logic: the SDK in cookie mode. No token ever reaches this script: login
// and refresh answers carry none, and the cookies are httpOnly.
import { AuthError, SecondFactorRequired, conditionalMediationAvailable, createAuthClient } from '/sdk/index.js'

const $ = (id) => document.getElementById(id)

// The server fills in where it mounted the auth routes. A route that wants a recent second
// factor (401 insufficient_user_authentication) asks the user through stepUp(), below.
const client = createAuthClient({ transport: 'cookie', lockName: 'auth-demo', basePath: '__AUTH_PATH__', onStepUp: (challenge) => stepUp(challenge) })

function status(text, kind = 'info') {
  const el = $('status')
  el.textContent = text
  el.className = kind
}

function setState(state) {
  document.body.dataset.state = state
  $('state-badge').textContent = state === 'authenticated' ? 'logged in' : state === 'anonymous' ? 'logged out' : 'unknown'
  $('doc-cookie').textContent = document.cookie === '' ? '"" (empty)' : JSON.stringify(document.cookie)
}

function showMe(me) {
  $('me-email').textContent = me ? (me.email ?? '(not in the token: ACCESS_TOKEN_EMAIL)') : '–'
  $('me-verified').textContent = me ? (me.email_verified ? 'yes' : 'not yet') : '–'
  $('me-id').textContent = me ? me.id : '–'
  $('me-session').textContent = me ? me.session_id : '–'
}

function log(text) {
  const li = document.createElement('li')
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`
  $('log').prepend(li)
}

function describe(err) {
  if (err instanceof AuthError) {
    if (err.kind === 'transient') return `The server is unreachable or busy (${err.code}); you are still logged in. Try again shortly.`
    return `${err.message} (${err.code})`
  }
  return String(err && err.message ? err.message : err)
}

function loggedOut(text) {
  showMe(null)
  setState('anonymous')
  status(text, 'error')
  showFactors(null, [])
  void armPasskeyAutofill()
}

/** GET /me (refreshing silently if the access cookie expired); returns the answer or null. */
async function whoami() {
  try {
    const me = await client.me()
    showMe(me)
    setState('authenticated')
    status(me.email ? `Logged in as ${me.email}.` : 'Logged in.', 'ok')
    disarmPasskeyAutofill()
    void refreshFactors()
    return me
  } catch (err) {
    if (err instanceof AuthError && err.kind === 'definitive') {
      loggedOut(`Not logged in (${err.code}).`)
      return null
    }
    status(describe(err), 'error')
    throw err
  }
}

client.subscribe((event) => {
  const where = event.remote ? ' (another tab)' : ''
  log(`${event.type}${event.reason ? `: ${event.reason}` : ''}${where}`)
  if (event.type === 'logout') {
    loggedOut(event.remote ? 'Logged out in another tab.' : event.reason === 'logout' ? 'Logged out.' : `Your session has ended (${event.reason}).`)
  } else if (event.type === 'login' && event.remote) {
    void whoami()
  } else if (event.type === 'refresh') {
    setState('authenticated')
  }
})

function credentials(form) {
  const data = new FormData(form)
  return [String(data.get('email') ?? ''), String(data.get('password') ?? '')]
}

$('register-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const [email, password] = credentials(e.target)
  try {
    status('Creating the account…')
    await client.register(email, password)
    await client.login(email, password)
    e.target.reset()
    await whoami()
    status(`Logged in as ${email}. We mailed a link to verify the address (and if it already had an account, its owner was told instead).`, 'ok')
  } catch (err) {
    status(describe(err), 'error')
  }
})

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const [email, password] = credentials(e.target)
  try {
    status('Logging in…')
    await client.login(email, password)
    e.target.reset()
    await whoami()
  } catch (err) {
    if (err instanceof SecondFactorRequired) {
      // The password was right; the login waits for the second step.
      secondStep = err.challenge
      e.target.reset()
      $('mfa-passkey').hidden = !err.methods.includes('passkey')
      $('mfa-form').hidden = false
      status('A second factor is needed to finish logging in.')
      return
    }
    status(describe(err), 'error')
  }
})

// ---- second factors and passkeys -------------------------------------------------------------
let secondStep = null
let autofill = null
let factors = null

// Passkeys in the email field's autofill (conditional mediation): a request that waits until
// the user picks one. Another passkey request first aborts it; a login ends it.
async function armPasskeyAutofill() {
  if (autofill || client.state === 'authenticated') return
  const ctrl = new AbortController()
  autofill = ctrl
  if (!(await conditionalMediationAvailable()) || autofill !== ctrl) {
    if (autofill === ctrl) autofill = null
    return
  }
  document.body.dataset.passkeyAutofill = 'armed'
  try {
    await client.loginWithPasskey({ conditional: true, signal: ctrl.signal })
    await whoami()
  } catch (err) {
    if (!ctrl.signal.aborted && !(err instanceof AuthError && err.code === 'passkey_cancelled')) status(describe(err), 'error')
  } finally {
    if (autofill === ctrl) {
      autofill = null
      delete document.body.dataset.passkeyAutofill
    }
  }
}

function disarmPasskeyAutofill() {
  autofill?.abort()
  autofill = null
  delete document.body.dataset.passkeyAutofill
}

$('passkey-login').addEventListener('click', async () => {
  disarmPasskeyAutofill()
  try {
    status('Asking for a passkey…')
    await client.loginWithPasskey()
    await whoami()
  } catch (err) {
    status(describe(err), 'error')
    void armPasskeyAutofill()
  }
})

async function finishSecondStep(answer) {
  try {
    await client.verifySecondFactor(secondStep, answer)
    secondStep = null
    $('mfa-form').reset()
    $('mfa-form').hidden = true
    await whoami()
  } catch (err) {
    if (err instanceof AuthError && err.code === 'invalid_mfa_challenge') {
      $('mfa-form').hidden = true
      secondStep = null
    }
    status(describe(err), 'error')
  }
}

$('mfa-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const data = new FormData(e.target)
  const code = String(data.get('code') ?? '').trim()
  const recovery = String(data.get('recovery') ?? '').trim()
  await finishSecondStep(code ? { code } : { recoveryCode: recovery })
})

$('mfa-passkey').addEventListener('click', async () => {
  disarmPasskeyAutofill()
  await finishSecondStep({ passkey: true })
})

function showFactors(summary, passkeys) {
  factors = summary
  const parts = summary
    ? [
        summary.totp.enabled ? 'Authenticator app: on' : 'Authenticator app: off',
        `passkeys: ${passkeys.length}`,
        `recovery codes left: ${summary.recovery_codes_left}`,
      ]
    : ['Log in to see them.']
  $('mfa-status').textContent = parts.join(' · ')
  $('totp-disable').hidden = !summary?.totp.enabled
  $('totp-enroll').hidden = !!summary?.totp.enabled
  $('recovery-regenerate').hidden = !summary || !(summary.totp.enabled || passkeys.length > 0)
  const list = $('passkey-list')
  list.replaceChildren(
    ...passkeys.map((p) => {
      const li = document.createElement('li')
      li.dataset.id = p.id
      li.textContent = `${p.name} (${p.backup_eligible ? 'synced' : 'this device'}, added ${p.created_at.slice(0, 10)})`
      const remove = document.createElement('button')
      remove.type = 'button'
      remove.textContent = 'Remove'
      remove.addEventListener('click', () => act(async () => {
        await client.removePasskey(p.id)
        status('Passkey removed.', 'ok')
      }))
      li.append(remove)
      return li
    }),
  )
}

async function refreshFactors() {
  try {
    const [s, p] = await Promise.all([client.mfaStatus(), client.passkeys()])
    showFactors(s, p)
  } catch (err) {
    if (!(err instanceof AuthError && err.kind === 'definitive')) status(describe(err), 'error')
  }
}

async function act(fn) {
  try {
    await fn()
  } catch (err) {
    status(describe(err), 'error')
  }
  await refreshFactors()
}

function showRecovery(codes) {
  $('recovery-codes').replaceChildren(...codes.map((c) => Object.assign(document.createElement('li'), { textContent: c })))
  $('recovery').hidden = false
}

$('totp-enroll').addEventListener('click', () =>
  act(async () => {
    const e = await client.enrollTotp()
    $('totp-qr').src = e.qrCode
    $('totp-secret').textContent = e.secret
    $('totp-setup').hidden = false
    status('Scan the QR code with your authenticator app, then type its first code.')
  }),
)

$('totp-confirm-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const code = String(new FormData(e.target).get('code') ?? '')
  return act(async () => {
    showRecovery(await client.confirmTotp(code))
    e.target.reset()
    $('totp-setup').hidden = true
    status('The authenticator app is on: logging in now asks for its code.', 'ok')
  })
})

$('totp-disable').addEventListener('click', () =>
  act(async () => {
    await client.disableTotp()
    $('recovery').hidden = true
    status('The authenticator app is off.', 'ok')
  }),
)

$('recovery-regenerate').addEventListener('click', () =>
  act(async () => {
    showRecovery(await client.regenerateRecoveryCodes())
    status('New recovery codes; the old ones no longer work.', 'ok')
  }),
)

$('passkey-register').addEventListener('click', () =>
  act(async () => {
    const p = await client.registerPasskey()
    status(`Passkey added: ${p.name}.`, 'ok')
  }),
)

// Step-up: the SDK calls this when a request needs a recent second factor (or a more recent
// login); it resolves true once the session has re-authenticated, and the request is retried.
function stepUp(challenge) {
  const form = $('stepup-form')
  const withFactor = !!factors && (factors.totp.enabled || factors.passkeys)
  $('stepup-why').textContent = challenge.mfa ? 'This action needs a recent second factor.' : 'This action needs a recent login: type your password again.'
  $('stepup-code-label').hidden = !withFactor
  $('stepup-passkey').hidden = !(withFactor && factors.passkeys)
  $('stepup-password-label').hidden = withFactor
  form.hidden = false
  status('Confirm it is you to continue.')
  return new Promise((resolve) => {
    const done = (ok) => {
      form.reset()
      form.hidden = true
      form.onsubmit = null
      resolve(ok)
    }
    const attempt = async (answer) => {
      try {
        await client.reauthenticate(answer)
        done(true)
      } catch (err) {
        status(describe(err), 'error')
      }
    }
    form.onsubmit = (e) => {
      e.preventDefault()
      const data = new FormData(form)
      void attempt(withFactor ? { code: String(data.get('code') ?? '') } : { password: String(data.get('password') ?? '') })
    }
    $('stepup-passkey').onclick = () => attempt({ passkey: true })
    $('stepup-cancel').onclick = () => done(false)
  })
}

// ---- mail flows ----------------------------------------------------------------------------
// A mail's link opens this page at /reset-password, /verify-email, /confirm-email-change or
// /undo-email-change with the token as `?token=`. The token is read once and taken out of the
// address bar and history at once; the script keeps it only until it is used.
const params = new URLSearchParams(location.search)
const linkToken = params.get('token')
const flow = location.pathname.replace(/^\/+/, '')
if (linkToken !== null) history.replaceState(null, '', '/')

$('forgot-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const email = String(new FormData(e.target).get('email') ?? '')
  try {
    status('Asking for a reset link…')
    await client.forgotPassword(email)
    e.target.reset()
    status(`If ${email} has an account, a reset link is on its way.`, 'ok')
  } catch (err) {
    status(describe(err), 'error')
  }
})

$('reset-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const password = String(new FormData(e.target).get('password') ?? '')
  try {
    status('Setting the new password…')
    await client.resetPassword({ token: linkToken }, password)
    e.target.reset()
    e.target.hidden = true
    if (client.state === 'authenticated') await whoami()
    else status('Password changed, and every session of the account logged out. Log in with the new password.', 'ok')
  } catch (err) {
    status(describe(err), 'error')
  }
})

$('verify-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const data = new FormData(e.target)
  try {
    await client.verifyEmail({ email: String(data.get('email') ?? ''), code: String(data.get('code') ?? '') })
    e.target.reset()
    await verified()
  } catch (err) {
    status(describe(err), 'error')
  }
})

$('resend').addEventListener('click', async () => {
  const email = String(new FormData($('verify-form')).get('email') ?? '')
  try {
    await client.resendVerification(email)
    status(`If ${email} has an account still to verify, a new link is on its way.`, 'ok')
  } catch (err) {
    status(describe(err), 'error')
  }
})

$('change-email-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const data = new FormData(e.target)
  const email = String(data.get('email') ?? '')
  try {
    await client.changeEmail(email, String(data.get('password') ?? ''))
    e.target.reset()
    status(`We mailed ${email} a link: the address changes once it is opened.`, 'ok')
  } catch (err) {
    status(describe(err), 'error')
  }
})

$('undo-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  try {
    await client.undoEmailChange({ token: linkToken })
    e.target.hidden = true
    status('The account is back at this address and every session was logged out. Check your mail to choose a new password.', 'ok')
  } catch (err) {
    status(describe(err), 'error')
  }
})

async function verified() {
  if (client.state === 'authenticated') await whoami()
  status('Email address verified.', 'ok')
}

async function followLink() {
  if (linkToken === null) return
  if (flow === 'reset-password') {
    $('reset-form').hidden = false
    status('Choose a new password.')
  } else if (flow === 'undo-email-change') {
    $('undo-form').hidden = false
    status('Undo the change of address?')
  } else if (flow === 'verify-email') {
    try {
      await client.verifyEmail({ token: linkToken })
      await verified()
    } catch (err) {
      status(describe(err), 'error')
    }
  } else if (flow === 'confirm-email-change') {
    try {
      await client.confirmEmailChange({ token: linkToken })
      if (client.state === 'authenticated') await whoami()
      status('The new address is confirmed; it is the account\'s address now.', 'ok')
    } catch (err) {
      status(describe(err), 'error')
    }
  }
}

$('whoami').addEventListener('click', () => whoami().catch(() => {}))

$('refresh').addEventListener('click', async () => {
  try {
    await client.refresh()
    await whoami()
    status('Refreshed: a new access token and a rotated refresh token are in the cookies.', 'ok')
  } catch (err) {
    if (!(err instanceof AuthError && err.kind === 'definitive')) status(describe(err), 'error')
    else if (document.body.dataset.state !== 'anonymous') loggedOut(`Not logged in (${err.code}).`)
  }
})

$('logout').addEventListener('click', async () => {
  try {
    await client.logout()
  } catch (err) {
    status(describe(err), 'error')
  }
})

// The browser tests drive the page's own client: their harness asks for it before the page
// loads (test/e2e/web-demo.e2e.test.ts). The client holds no token, so even then it leaks none.
if (window.__exposeDemoForTests === true) window.demo = { client, whoami }

setState('unknown')
whoami()
  .catch(() => {})
  .then(followLink)
  .then(() => armPasskeyAutofill())
