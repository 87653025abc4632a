// Emails are stored trimmed and lower-cased, so one address is one account however it is typed.
const EMAIL = /^[^\s@"<>()[\]\\,;:]{1,64}@(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/

/** The form an address is stored and counted in, valid or not. */
export function canonicalEmail(raw: string): string {
  return raw.trim().toLowerCase()
}

export function normaliseEmail(raw: string): string | null {
  const email = canonicalEmail(raw)
  return email.length <= 254 && EMAIL.test(email) ? email : null
}
