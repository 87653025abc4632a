// Small request helpers so route tests read as scenarios.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { randomBytes } from 'node:crypto'

export const COOKIE = { 'x-auth-transport': 'cookie' }

export function uniqueEmail(): string {
  return `user-${randomBytes(5).toString('hex')}@example.com`
}

export async function register(app: FastifyInstance, email = uniqueEmail(), password = 'correct horse battery') {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email, password } })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return { email, password, id: res.json().id as string }
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
