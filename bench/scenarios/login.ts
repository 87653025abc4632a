// POST /auth/login against ceiling C (argon2id verify with the same parameters, through the
// server's own PasswordHasher: same thread pool, same limit on hashes at once; answered over
// HTTP like the rest), with the statements each login sends
// and the server's event-loop delay during the run: argon2 runs on the libuv pool, so the loop
// must stay responsive while every core is hashing.
import type { RequestSpec } from '../lib/load.js'
import { pairedId } from '../report.js'
import { deploy, measureAlternating, type Ctx, type Deployment, type Measured } from './context.js'

export function loginSpec(emails: string[], password: string): RequestSpec {
  let i = 0
  return {
    method: 'POST',
    path: '/auth/login',
    headers: { 'content-type': 'application/json' },
    next: () => ({ body: JSON.stringify({ email: emails[i++ % emails.length], password }) }),
  }
}

/**
 * Ceiling C and POST /auth/login, both deployed, measured in alternating rounds: the ratio is
 * within a few per cent of 0.9, and this machine's speed drifts by more than that from one
 * 10-second run to the next. Twice BENCH_SECONDS each, in rounds of a quarter of it (8 rounds
 * of 2.5 s by default): with 4 rounds of 2.5 s, the same hash still cost 29 ms of CPU on one
 * side and 33 on the other in one run out of six.
 */
export async function loginAgainstCeilingC(ctx: Ctx, emails: string[], password: string): Promise<[Measured, Measured]> {
  const connections = ctx.settings.loginConnections
  const ceiling = await deploy(ctx, 'ceilingC')
  let server: Deployment | null = null
  try {
    server = await deploy(ctx, 'server')
    return await measureAlternating(
      ctx,
      [
        { dep: ceiling, meta: { id: pairedId('ceiling-c', 'login'), label: 'ceiling C: argon2id verify, same parameters' }, spec: loginSpec(emails, password), opts: { connections } },
        { dep: server, meta: { id: 'login', label: 'POST /auth/login' }, spec: loginSpec(emails, password), opts: { connections, admin: ctx.db.admin } },
      ],
      LOGIN_ROUNDS,
      ctx.settings.seconds * 2,
    )
  } finally {
    await Promise.all([ceiling.stop(), server?.stop()])
  }
}

const LOGIN_ROUNDS = 8
