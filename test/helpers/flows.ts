// Small request helpers so route tests read as scenarios.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { randomBytes } from 'node:crypto'
import { adminQuery } from './database.js'

export const COOKIE = { 'x-auth-transport': 'cookie' }

export function uniqueEmail(): string {
  return `user-${randomBytes(5).toString('hex')}@example.com`
}

// Which database each test app runs on: with email verification on (the default), register
// answers 202 and no id, as it must, so the helper reads the new account's id from the table.
const databases = new WeakMap<FastifyInstance, string>()

export function rememberDatabase(app: FastifyInstance, databaseUrl: string): void {
  databases.set(app, databaseUrl)
}

export async function register(app: FastifyInstance, email = uniqueEmail(), password = 'correct horse battery') {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email, password } })
  if (res.statusCode === 201) return { email, password, id: res.json().id as string }
  if (res.statusCode !== 202) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  const url = databases.get(app)
  if (!url) throw new Error('register: 202 without an id, and this app was not built by buildTestApp (call rememberDatabase)')
  const [row] = await adminQuery<{ id: string }>('SELECT id FROM auth.users WHERE email = $1', [email.trim().toLowerCase()], url)
  return { email, password, id: row!.id }
}

export interface BearerSession {
  email: string
  accessToken: string
  refreshToken: string
}

export async function loginBearer(app: FastifyInstance, email?: string, password?: string): Promise<BearerSession> {
  const user = email ? { email, password: password! } : await register(app)
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: user.password } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  const body = res.json()
  return { email: user.email, accessToken: body.access_token, refreshToken: body.refresh_token }
}

export function refreshJson(app: FastifyInstance, refreshToken: string) {
  return app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshToken } })
}

/** cookie name -> value, from Set-Cookie headers */
export function cookiesOf(res: LightMyRequestResponse): Record<string, { value: string; [k: string]: unknown }> {
  return Object.fromEntries(res.cookies.map((c) => [c.name, c as { value: string }]))
}

export function cookieHeader(jar: Record<string, string>): string {
  return Object.entries(jar)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ')
}

/** the session (token family) id an access token belongs to */
export function sidOf(accessToken: string): string {
  return JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()).sid as string
}

export function bearer(accessToken: string): Record<string, string> {
  return { authorization: `Bearer ${accessToken}` }
}

export interface CookieSession {
  email: string
  access: string
  refresh: string
  sid: string
  /** the headers a browser sends on /auth/* with these cookies */
  headers: Record<string, string>
}

/** Logs in with the cookie transport (development cookie names). */
export async function loginCookie(app: FastifyInstance, user: { email: string; password: string }): Promise<CookieSession> {
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return cookieSession(user.email, res)
}

/** The cookie session a token response (login, refresh, password change) set. */
export function cookieSession(email: string, res: LightMyRequestResponse): CookieSession {
  const c = cookiesOf(res)
  const access = c.access_token!.value
  const refresh = c.refresh_token!.value
  return { email, access, refresh, sid: sidOf(access), headers: { ...COOKIE, cookie: cookieHeader({ access_token: access, refresh_token: refresh }) } }
}
