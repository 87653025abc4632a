// argon2id hashing. The work runs on libuv's thread pool, off the event loop, at most
// `concurrency` hashes at a time (defaultConcurrency: about one per core): more at once finish
// no sooner on the same cores, and each holds `memoryKiB` while it runs.
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import argon2 from 'argon2'

export interface Argon2Options {
  memoryKiB: number
  timeCost: number
  parallelism: number
  /** hashes and verifications running at once; 0: defaultConcurrency() */
  concurrency?: number
}

/**
 * One hash per core, and one more while libuv's pool has a thread to spare for it beside the
 * file and DNS work that shares the pool. With exactly one per core, a core that finishes a
 * hash waits for the event loop to start the next one (two thread wake-ups): on a 2-core
 * machine the login bench kept 1.94 cores busy instead of 2.00, and logins reached 0.87–0.90 of
 * raw argon2; with the spare one queued behind, 1.97–1.98 cores and 0.90–0.95 (paired runs).
 */
export function defaultConcurrency(cores: number, poolThreads: number): number {
  return Math.max(cores, Math.min(cores + 1, poolThreads - 1))
}

// libuv's pool: UV_THREADPOOL_SIZE when set before the first use, else 4.
const poolThreads = () => Number(process.env.UV_THREADPOOL_SIZE) || 4

export class PasswordHasher {
  // Verifying against this costs what a real verify costs (the cost is in the parameters it
  // names, not in its bytes), so an unknown email is not faster to answer than a wrong
  // password. Random bytes in a hash's shape: no password has it, and making it costs nothing.
  private readonly dummyHash: string
  private readonly slots: Slots

  constructor(private readonly opts: Argon2Options) {
    const b64 = (n: number) => randomBytes(n).toString('base64').replace(/=+$/, '')
    this.dummyHash = `$argon2id$v=19$m=${opts.memoryKiB},t=${opts.timeCost},p=${opts.parallelism}$${b64(16)}$${b64(32)}`
    this.slots = new Slots(opts.concurrency || defaultConcurrency(availableParallelism(), poolThreads()))
  }

  hash(password: string): Promise<string> {
    return this.slots.run(() =>
      argon2.hash(normalise(password), {
        type: argon2.argon2id,
        memoryCost: this.opts.memoryKiB,
        timeCost: this.opts.timeCost,
        parallelism: this.opts.parallelism,
      }),
    )
  }

  /** True when a stored hash was made with other parameters than the configured ones. */
  needsRehash(hash: string): boolean {
    try {
      return argon2.needsRehash(hash, {
        memoryCost: this.opts.memoryKiB,
        timeCost: this.opts.timeCost,
        parallelism: this.opts.parallelism,
      })
    } catch {
      return false // not an argon2 hash we can read; verify has already refused it
    }
  }

  async verify(hash: string | null, password: string): Promise<boolean> {
    if (hash === null) {
      await this.slots.run(() => argon2.verify(this.dummyHash, normalise(password))).catch(() => false)
      return false
    }
    try {
      return await this.slots.run(() => argon2.verify(hash, normalise(password)))
    } catch {
      return false
    }
  }

  /** Hashes running and waiting, for tests and metrics. */
  get load(): { running: number; waiting: number } {
    return { running: this.slots.running, waiting: this.slots.waiting }
  }
}

/** At most `size` tasks at once; the rest wait their turn, first come first served. */
class Slots {
  running = 0
  private readonly queue: (() => void)[] = []

  constructor(private readonly size: number) {}

  get waiting(): number {
    return this.queue.length
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) await new Promise<void>((resolve) => this.queue.push(resolve))
    else this.running++
    try {
      return await task()
    } finally {
      // The slot passes straight to the next in line, so `running` never dips and lets a
      // newcomer jump the queue.
      const next = this.queue.shift()
      if (next) next()
      else this.running--
    }
  }
}

// The same password typed on two keyboards can arrive as different code points (é as one
// or as e + combining accent); NFC makes them one.
export function normalise(password: string): string {
  return password.normalize('NFC')
}
