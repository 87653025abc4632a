#!/usr/bin/env node
// `npm run revoke -- --session <id>` or `npm run revoke -- --user <email>`: an operator ends
// one session, or every session of an account (a stolen device, a compromised account), with
// reason `admin`. The revocation is notified at commit, so every running instance refuses the
// sessions' access tokens within a second; the owner sees it in GET /sessions/events.
// Prints the revoked session ids as one JSON line. Exit 2: bad arguments or no such account.
import { parseArgs } from 'node:util'
import { normaliseEmail } from '../users/email.js'
import { CliError, openCli, runCli } from './open.js'

const USAGE = 'usage: npm run revoke -- --session <session id> | --user <email>'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function target(argv: string[]): { session: string } | { user: string } {
  let values: { session?: string; user?: string }
  try {
    ;({ values } = parseArgs({ args: argv, options: { session: { type: 'string' }, user: { type: 'string' } }, strict: true }))
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n${USAGE}`)
  }
  if ((values.session === undefined) === (values.user === undefined)) throw new CliError(USAGE)
  if (values.session !== undefined) {
    if (!UUID.test(values.session)) throw new CliError(`not a session id: ${values.session}`)
    return { session: values.session.toLowerCase() }
  }
  const email = normaliseEmail(values.user!)
  if (!email) throw new CliError(`not an email address: ${values.user}`)
  return { user: email }
}

runCli(async () => {
  const what = target(process.argv.slice(2))
  const { core, close } = await openCli('revoke')
  try {
    // This process serves no requests, so its denylist is never started; the servers hear of
    // the revocation through the notification, at commit.
    const meta = { ip: null, userAgent: 'npm run revoke' }
    let revoked: string[]
    if ('session' in what) {
      revoked = (await core.sessions.revoke(what.session, 'admin', undefined, meta)) ? [what.session] : []
    } else {
      const user = await core.users.findByEmail(what.user)
      if (!user) throw new CliError(`no account with the address ${what.user}`)
      revoked = await core.sessions.revokeAll(user.id, 'admin', null, meta)
    }
    // Nothing revoked is not an error: an unknown id and an already ended session look alike.
    console.log(JSON.stringify({ revoked }))
  } finally {
    await close()
  }
})
