// Coordination between the tabs of one origin.
//
// - A lock (Web Locks) around every refresh and logout, so that one tab refreshes while the
//   others wait; a tab that had to wait learns it was "contended" and first checks whether
//   the winner's result already serves it.
// - A BroadcastChannel on which tabs announce "refreshing", "refreshed", "logged-in" and
//   "logged-out", so that the others adopt the result (and, without Web Locks, wait for a
//   peer that announced a refresh instead of starting their own).
// Either may be missing (Node, React Native, old browsers): the client then coordinates
// within its own page only.

export interface LockManagerLike {
  request<T>(name: string, options: { ifAvailable?: boolean }, callback: (lock: unknown) => Promise<T> | T): Promise<T>
}

export interface ChannelLike {
  postMessage(message: unknown): void
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  close(): void
}

interface Base {
  v: 1
  /** the sending tab's random id */
  tab: string
  /** Date.now() of the sender: tabs of one browser share the clock */
  at: number
}

export type TabMessage =
  | (Base & { type: 'refreshing' })
  | (Base & { type: 'refreshed' })
  /** the refresh announced by `refreshing` did not happen; nothing changed */
  | (Base & { type: 'refresh-failed' })
  | (Base & { type: 'logged-in' })
  /** `since`: when the request that ended the session began (stale failures are ignored) */
  | (Base & { type: 'logged-out'; since: number; reason: string })

export type TabMessageBody =
  | { type: 'refreshing' | 'refreshed' | 'refresh-failed' | 'logged-in' }
  | { type: 'logged-out'; since: number; reason: string }

export interface CoordinatorOptions {
  lockName: string
  locks: LockManagerLike | null
  channel: ChannelLike | null
  now(): number
  /** without Web Locks: how long to wait for a peer that announced a refresh (default 10 s) */
  peerWaitMs?: number
}

const NOT_AVAILABLE = Symbol('not available')

function isTabMessage(d: unknown): d is TabMessage {
  if (typeof d !== 'object' || d === null) return false
  const m = d as Record<string, unknown>
  if (m.v !== 1 || typeof m.tab !== 'string' || typeof m.at !== 'number') return false
  if (m.type === 'logged-out') return typeof m.since === 'number' && typeof m.reason === 'string'
  return m.type === 'refreshing' || m.type === 'refreshed' || m.type === 'refresh-failed' || m.type === 'logged-in'
}

export class Coordinator {
  readonly tab = Math.random().toString(36).slice(2) + Date.now().toString(36)
  private readonly listeners = new Set<(m: TabMessage) => void>()
  private readonly peerWaitMs: number
  // Fallback without Web Locks: an in-page queue, and what peers announced.
  private tail: Promise<void> = Promise.resolve()
  private queued = 0
  private peerBusyUntil = 0
  private peerWaiters: Array<() => void> = []

  constructor(private readonly opts: CoordinatorOptions) {
    this.peerWaitMs = opts.peerWaitMs ?? 10_000
    opts.channel?.addEventListener('message', (event) => this.receive(event.data))
  }

  get crossTab(): boolean {
    return this.opts.locks !== null || this.opts.channel !== null
  }

  /** Runs `fn` holding the lock; `contended` says whether someone else held it first. */
  async withLock<T>(fn: (contended: boolean) => Promise<T>): Promise<T> {
    const { locks, lockName } = this.opts
    if (locks) {
      const first = await locks.request(lockName, { ifAvailable: true }, async (lock) =>
        lock ? { value: await fn(false) } : NOT_AVAILABLE,
      )
      if (first !== NOT_AVAILABLE) return first.value
      return locks.request(lockName, {}, () => fn(true))
    }
    return this.withLocalLock(fn)
  }

  private async withLocalLock<T>(fn: (contended: boolean) => Promise<T>): Promise<T> {
    let contended = this.queued > 0
    this.queued++
    const prev = this.tail
    let release!: () => void
    this.tail = new Promise<void>((r) => (release = r))
    try {
      await prev
      if (this.peerBusyUntil > this.opts.now()) {
        await this.waitForPeer()
        contended = true
      }
      return await fn(contended)
    } finally {
      this.queued--
      release()
    }
  }

  private waitForPeer(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, this.peerBusyUntil - this.opts.now()))
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.peerWaiters.push(done)
    })
  }

  post(body: TabMessageBody): void {
    try {
      this.opts.channel?.postMessage({ v: 1, tab: this.tab, at: this.opts.now(), ...body })
    } catch {
      // a closed channel: nothing to tell
    }
  }

  onMessage(listener: (m: TabMessage) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private receive(data: unknown): void {
    if (!isTabMessage(data) || data.tab === this.tab) return
    if (data.type === 'refreshing') {
      this.peerBusyUntil = this.opts.now() + this.peerWaitMs
    } else {
      this.peerBusyUntil = 0
      const waiters = this.peerWaiters
      this.peerWaiters = []
      for (const w of waiters) w()
    }
    for (const l of this.listeners) l(data)
  }

  close(): void {
    this.opts.channel?.close()
    this.listeners.clear()
  }
}

/** Web Locks and BroadcastChannel where a browser page (or worker) has them; null elsewhere. */
export function detectCrossTab(channelName: string): { locks: LockManagerLike | null; channel: ChannelLike | null } {
  const g = globalThis as {
    navigator?: { locks?: LockManagerLike }
    document?: unknown
    BroadcastChannel?: new (name: string) => ChannelLike
    WorkerGlobalScope?: unknown
  }
  const locks = g.navigator?.locks && typeof g.navigator.locks.request === 'function' ? g.navigator.locks : null
  // Node has a BroadcastChannel too (between worker threads), which would also keep the
  // process alive: only a browser context gets one by default.
  const browser = g.document !== undefined || g.WorkerGlobalScope !== undefined
  const channel = browser && typeof g.BroadcastChannel === 'function' ? new g.BroadcastChannel(channelName) : null
  return { locks, channel }
}
