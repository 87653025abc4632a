// `npm run cleanup`: one run of the cleanup job (the same code the server runs periodically),
// then exit. Prints what it deleted as one JSON line.
import { TokenStore } from '../tokens/token-store.js'
import { LoginAttemptStore } from '../limits/login-attempt-store.js'
import { AuditStore } from '../audit/audit-store.js'
import { CounterStore } from '../limits/counter-store.js'
import { cleanupPlan, runCleanup } from '../jobs/cleanup.js'
import { openCliDatabase, runCli } from './open.js'

runCli(async () => {
  const { config, db, close } = await openCliDatabase('cleanup')
  try {
    const stores = {
      tokens: new TokenStore(db.prisma, config.db),
      attempts: new LoginAttemptStore(db.prisma, config.db),
      counters: new CounterStore(db.prisma),
      audit: new AuditStore(db.prisma),
    }
    const result = await runCleanup(stores, cleanupPlan(config))
    console.log(JSON.stringify(result))
  } finally {
    await close()
  }
})
