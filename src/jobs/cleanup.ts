// Removes rows nothing needs any more, in small batches: each batch is one short DELETE of at
// most `batchSize` rows that skips rows a request holds, so no table is locked for long and a
// rotation never waits for the job. Run periodically by every instance (they skip each other's
// rows) and once by `npm run cleanup`.
//
// What is kept, and why:
// - a revoked or absolutely expired family: until the denylist's retention (the access-token
//   lifetime and a margin) plus the retention has passed. The denylist loads the revocations of
//   that period at start, so a revoked family must outlive every access token carrying its sid;
// - a family whose live token idled out: counted from its last use, plus the refresh idle
//   lifetime, the reuse window (a replay can still issue an access token) and the above;
// - a spent token: until the retention has passed since it would have expired unspent. Until
//   then, presenting it is detected as reuse and revokes its family;
// - a failed-login counter: until nobody has failed on it for LOGIN_FAILURE_RESET_SEC;
// - a rate-limit counter (and a spent proof of work): until its window has ended. An ended
//   window is never read again (the next request starts a new one in place), so it can go at
//   once;
// - an audit event: AUDIT_RETENTION_DAYS;
// - a mail's link and code: until it expires (a spent one is deleted when spent);
// - a second factor's or passkey's challenge: until it expires (a spent one is deleted when spent).
import type { AuthSettings } from '../options.js'
import { denylistRetentionMs } from '../tokens/denylist.js'

export interface CleanupStores {
  tokens: {
    deleteEndedFamilies(args: { endedKeepSec: number; idleKeepSec: number; limit: number }): Promise<number>
    deleteSpentTokens(args: { keepSec: number; limit: number }): Promise<number>
  }
  attempts: { deleteStale(resetSec: number, limit: number): Promise<number> }
  counters: { deleteExpired(limit: number): Promise<number> }
  audit: { deleteOlderThan(retentionDays: number, limit: number): Promise<number> }
  emailTokens: { deleteExpired(limit: number): Promise<number> }
  mfaChallenges: { deleteExpired(limit: number): Promise<number> }
}

export interface CleanupPlan {
  endedFamilyKeepSec: number
  idleFamilyKeepSec: number
  spentTokenKeepSec: number
  loginAttemptKeepSec: number
  auditRetentionDays: number
  batchSize: number
}

export interface CleanupResult {
  families: number
  spentTokens: number
  loginAttempts: number
  rateLimitCounters: number
  auditEvents: number
  /** expired links and codes of mails */
  emailTokens: number
  /** expired second-factor and passkey challenges */
  mfaChallenges: number
  /** DELETE statements run */
  batches: number
}

export function cleanupPlan(config: Pick<AuthSettings, 'jwt' | 'db' | 'cleanup' | 'refresh' | 'lockout' | 'audit'>): CleanupPlan {
  const accessSec = Math.ceil(denylistRetentionMs(config.jwt.accessTtlSec, config.db) / 1000)
  const { retentionSec, batchSize } = config.cleanup
  return {
    endedFamilyKeepSec: accessSec + retentionSec,
    idleFamilyKeepSec: config.refresh.ttlSec + config.refresh.reuseWindowSec + accessSec + retentionSec,
    spentTokenKeepSec: retentionSec,
    loginAttemptKeepSec: config.lockout.resetSec,
    auditRetentionDays: config.audit.retentionDays,
    batchSize,
  }
}

export async function runCleanup(
  stores: CleanupStores,
  plan: CleanupPlan,
  opts: { pauseMs?: number; shouldStop?: () => boolean } = {},
): Promise<CleanupResult> {
  const result: CleanupResult = { families: 0, spentTokens: 0, loginAttempts: 0, rateLimitCounters: 0, auditEvents: 0, emailTokens: 0, mfaChallenges: 0, batches: 0 }
  const limit = plan.batchSize
  const drain = async (step: () => Promise<number>): Promise<number> => {
    let total = 0
    for (;;) {
      if (opts.shouldStop?.()) return total
      const n = await step()
      result.batches++
      total += n
      if (n < limit) return total
      // Let requests in between batches.
      await new Promise((r) => setTimeout(r, opts.pauseMs ?? 10))
    }
  }
  // Families first: their tokens go with them, so fewer are left for the token pass.
  result.families = await drain(() =>
    stores.tokens.deleteEndedFamilies({ endedKeepSec: plan.endedFamilyKeepSec, idleKeepSec: plan.idleFamilyKeepSec, limit }),
  )
  result.spentTokens = await drain(() => stores.tokens.deleteSpentTokens({ keepSec: plan.spentTokenKeepSec, limit }))
  result.loginAttempts = await drain(() => stores.attempts.deleteStale(plan.loginAttemptKeepSec, limit))
  result.rateLimitCounters = await drain(() => stores.counters.deleteExpired(limit))
  result.auditEvents = await drain(() => stores.audit.deleteOlderThan(plan.auditRetentionDays, limit))
  result.emailTokens = await drain(() => stores.emailTokens.deleteExpired(limit))
  result.mfaChallenges = await drain(() => stores.mfaChallenges.deleteExpired(limit))
  return result
}
