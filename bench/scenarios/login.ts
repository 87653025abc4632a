// POST /auth/login against ceiling C (argon2id verify with the same parameters, on the same
// thread pool size, answered over HTTP like the rest), with the statements each login sends
// and the server's event-loop delay during the run: argon2 runs on the libuv pool, so the loop
// must stay responsive while every core is hashing.
import type { RequestSpec } from '../lib/load.js'
import { deploy, measure, type Ctx, type Deployment, type Measured } from './context.js'

export function loginSpec(emails: string[], password: string): RequestSpec {
  let i = 0
  return {
    method: 'POST',
    path: '/auth/login',
    headers: { 'content-type': 'application/json' },
    next: () => ({ body: JSON.stringify({ email: emails[i++ % emails.length], password }) }),
  }
}

export async function ceilingC(ctx: Ctx, emails: string[], password: string): Promise<Measured> {
  const dep = await deploy(ctx, 'ceilingC')
  try {
    return await measure(ctx, dep, { id: 'ceiling-c', label: 'ceiling C: argon2id verify, same parameters' }, loginSpec(emails, password), {
      connections: ctx.settings.loginConnections,
    })
  } finally {
    await dep.stop()
  }
}

export async function loginRun(ctx: Ctx, dep: Deployment, emails: string[], password: string): Promise<Measured> {
  return measure(ctx, dep, { id: 'login', label: 'POST /auth/login' }, loginSpec(emails, password), {
    connections: ctx.settings.loginConnections,
    admin: ctx.db.admin,
  })
}
