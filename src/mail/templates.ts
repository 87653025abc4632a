// What each mail says: plain text and HTML, short, with the product's name and the request's
// address and time, so an owner who did not ask can tell. A host replaces any of them through
// the plugin's `mail.templates` option; each is a function of the context below.

export const MAIL_KINDS = [
  'verify_email',
  'reset_password',
  'register_existing',
  'password_reset_done',
  'confirm_email_change',
  'email_change_taken',
  'email_changed',
  'email_change_undone',
  // notices of the second factors (src/mfa/)
  'mfa_enabled',
  'mfa_disabled',
  'recovery_codes_regenerated',
  'passkey_added',
  'passkey_removed',
] as const

export type MailKind = (typeof MAIL_KINDS)[number]

export interface MailContext {
  productName: string
  /** where the mail goes */
  to: string
  /** the client address of the request that caused the mail; null when unknown */
  ip: string | null
  /** when that request arrived */
  time: Date
  /** the page to open (with the token as its `token` query parameter); null when no page is configured */
  link: string | null
  /** the short code to type instead; null for a mere notice */
  code: string | null
  /** minutes until the link and code expire; null for a notice */
  expiresInMinutes: number | null
  /** a change of address: the account's address before and after */
  oldEmail?: string
  newEmail?: string
}

export interface RenderedMail {
  subject: string
  text: string
  html: string
}

export type MailTemplate = (ctx: MailContext) => RenderedMail

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/** The request's origin, said the same way in every mail. */
function requested(ctx: MailContext): string {
  return `Requested from ${ctx.ip ?? 'an unknown address'} at ${ctx.time.toISOString().replace('T', ' ').slice(0, 19)} UTC.`
}

/** A mail of a few paragraphs, the action (link and code) in the middle, the origin last. */
function compose(ctx: MailContext, subject: string, lead: string[], actionLabel: string | null, tail: string[]): RenderedMail {
  const text: string[] = [...lead]
  const html: string[] = lead.map((p) => `<p>${esc(p)}</p>`)
  if (actionLabel && ctx.link) {
    text.push(`${actionLabel}: ${ctx.link}`)
    html.push(`<p><a href="${esc(ctx.link)}">${esc(actionLabel)}</a></p>`)
  }
  if (ctx.code) {
    text.push(`Or enter this code: ${ctx.code}`)
    html.push(`<p>Or enter this code: <strong style="font-family:monospace;font-size:1.2em">${esc(ctx.code)}</strong></p>`)
  }
  if (ctx.expiresInMinutes !== null && (ctx.link || ctx.code)) {
    const expiry = `It works once and expires in ${formatMinutes(ctx.expiresInMinutes)}.`
    text.push(expiry)
    html.push(`<p>${esc(expiry)}</p>`)
  }
  for (const p of [...tail, requested(ctx)]) {
    text.push(p)
    html.push(`<p style="color:#666">${esc(p)}</p>`)
  }
  text.push(`— ${ctx.productName}`)
  html.push(`<p style="color:#666">— ${esc(ctx.productName)}</p>`)
  return {
    subject: `${ctx.productName}: ${subject}`,
    text: `${text.join('\n\n')}\n`,
    html: `<!doctype html><html><body style="font-family:sans-serif">${html.join('')}</body></html>`,
  }
}

function formatMinutes(m: number): string {
  if (m % 1440 === 0) return m === 1440 ? '1 day' : `${m / 1440} days`
  if (m % 60 === 0) return m === 60 ? '1 hour' : `${m / 60} hours`
  return m === 1 ? '1 minute' : `${m} minutes`
}

const IGNORE = 'If you did not ask for this, ignore this mail: nothing changes.'
const NOT_YOU = 'If this was not you, change your password now, review your sessions and second factors, and log out every session.'

export const DEFAULT_TEMPLATES: Record<MailKind, MailTemplate> = {
  verify_email: (ctx) => compose(ctx, 'confirm your email address', [`Confirm that ${ctx.to} is your address.`], 'Confirm the address', [IGNORE]),
  reset_password: (ctx) =>
    compose(ctx, 'reset your password', ['Someone asked to reset the password of your account.'], 'Choose a new password', [
      `${IGNORE} Your password stays as it is.`,
    ]),
  register_existing: (ctx) =>
    compose(
      ctx,
      'someone tried to register your address',
      [`Someone tried to create an account with ${ctx.to}, which already has one. No second account was created.`],
      'Forgot your password? Choose a new one',
      ['If it was not you, ignore this mail: your account is unchanged.'],
    ),
  password_reset_done: (ctx) =>
    compose(ctx, 'your password was reset', ['The password of your account was reset, and every session of the account was logged out.'], null, [
      'If this was not you, reset your password now and check your account activity.',
    ]),
  confirm_email_change: (ctx) =>
    compose(ctx, 'confirm your new email address', [`Confirm ${ctx.newEmail ?? ctx.to} as the new address of your account (now ${ctx.oldEmail ?? 'another address'}).`], 'Confirm the new address', [
      `${IGNORE} The account keeps its address.`,
    ]),
  email_change_taken: (ctx) =>
    compose(
      ctx,
      'this address already has an account',
      [`Someone asked to move an account to ${ctx.to}, but this address already has an account. Nothing was changed.`],
      null,
      ['If it was you, log in with this address instead, or choose another one.'],
    ),
  email_changed: (ctx) =>
    compose(
      ctx,
      'your email address was changed',
      [`The address of your account was changed from ${ctx.oldEmail ?? ctx.to} to ${ctx.newEmail ?? 'another address'}.`],
      ctx.link || ctx.code ? 'Not you? Undo the change' : null,
      ctx.link || ctx.code ? ['Undoing it moves the account back to this address and logs out every session.'] : ['You can no longer undo it from this mail.'],
    ),
  email_change_undone: (ctx) =>
    compose(
      ctx,
      'the change of address was undone',
      [`Your account is back at ${ctx.to}, and every session was logged out. Whoever changed it may know your password.`],
      'Choose a new password now',
      [],
    ),
  mfa_enabled: (ctx) =>
    compose(ctx, 'two-step login is on', ['An authenticator app was added to your account: logging in now takes a code from it after the password.'], null, [
      'Keep your recovery codes somewhere safe: each one logs you in once if the app is lost.',
      NOT_YOU,
    ]),
  mfa_disabled: (ctx) =>
    compose(ctx, 'your authenticator app was removed', ['The authenticator app was removed from your account: its codes no longer log you in.'], null, [NOT_YOU]),
  recovery_codes_regenerated: (ctx) =>
    compose(ctx, 'new recovery codes', ['New recovery codes were made for your account; the previous ones no longer work.'], null, [NOT_YOU]),
  passkey_added: (ctx) => compose(ctx, 'a passkey was added', ['A passkey was added to your account: it can now log in without the password.'], null, [NOT_YOU]),
  passkey_removed: (ctx) => compose(ctx, 'a passkey was removed', ['A passkey was removed from your account: it no longer logs you in.'], null, [NOT_YOU]),
}

/** The templates in force: the defaults, with the host's replacements. */
export function templatesWith(overrides: Partial<Record<MailKind, MailTemplate>> = {}): Record<MailKind, MailTemplate> {
  return { ...DEFAULT_TEMPLATES, ...overrides }
}
