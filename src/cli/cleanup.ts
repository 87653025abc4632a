#!/usr/bin/env node
// `npm run cleanup`: one run of the cleanup job (the same code the server runs periodically),
// then exit. Prints what it deleted as one JSON line.
import { cleanupPlan, runCleanup } from '../jobs/cleanup.js'
import { openCli, runCli } from './open.js'

runCli(async () => {
  const { core, close } = await openCli('cleanup')
  try {
    const stores = { tokens: core.tokens, attempts: core.attempts, counters: core.counters, audit: core.auditStore, emailTokens: core.emailTokens, mfaChallenges: core.challenges }
    const result = await runCleanup(stores, cleanupPlan(core.settings))
    console.log(JSON.stringify(result))
  } finally {
    await close()
  }
})
