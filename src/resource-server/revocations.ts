// The revoked sessions a resource server has heard of from the feed, and how current that
// knowledge is. Each sid is held until revokedAt + retain_ms (the access-token lifetime plus
// the auth service's lock and statement timeouts), after which no token that can carry it is
// accepted anyway: tokens live access_token_ttl_s at most, and a longer-lived one is refused
// (tooLongLived) because the entry would be gone before it expired.
export interface SyncState {
  cursor: string
  retainMs: number
  accessTokenTtlSec: number
}

export class Revocations {
  /** sid -> revokedAt (ms, the auth service's clock; machines are assumed to agree within seconds) */
  private readonly entries = new Map<string, number>()
  private sync: SyncState | null = null
  private syncedAt = 0
  private lastPrune = 0

  constructor(private readonly now: () => number = Date.now) {}

  /** A session-revoked event (idempotent: the latest time of a repeated one wins). */
  add(sid: string, revokedAtMs: number): void {
    this.entries.set(sid, Math.max(this.entries.get(sid) ?? 0, revokedAtMs))
  }

  /** A `sync` event: everything revoked before its cursor has been received. */
  synced(state: SyncState): void {
    this.sync = state
    this.syncedAt = this.now()
    // Pruned at most once a second: syncs come every few seconds, and a loop per sync is cheap.
    if (this.syncedAt - this.lastPrune >= 1000) {
      this.lastPrune = this.syncedAt
      const oldest = this.syncedAt - state.retainMs
      for (const [sid, at] of this.entries) if (at <= oldest) this.entries.delete(sid)
    }
  }

  /** Revoked, and still within the retention (before the first sync, every entry counts). */
  has(sid: string): boolean {
    const at = this.entries.get(sid)
    return at !== undefined && (this.sync === null || at + this.sync.retainMs > this.now())
  }

  /** ms since the last sync; Infinity before the first */
  get staleness(): number {
    return this.sync ? this.now() - this.syncedAt : Number.POSITIVE_INFINITY
  }

  get cursor(): string | undefined {
    return this.sync?.cursor
  }

  /**
   * A token living longer than the auth service issues them would outlast its session's entry
   * (held retain_ms, which covers access_token_ttl_s and no more): refused. True before the
   * first sync, when the lifetime is not known.
   */
  tooLongLived(claims: { iat: number; exp: number }): boolean {
    return this.sync === null || claims.exp - claims.iat > this.sync.accessTokenTtlSec
  }

  get size(): number {
    return this.entries.size
  }
}
