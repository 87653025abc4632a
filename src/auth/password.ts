// argon2id hashing. The work runs on libuv's thread pool, off the event loop.
import argon2 from 'argon2'

export interface Argon2Options {
  memoryKiB: number
  timeCost: number
  parallelism: number
}

export class PasswordHasher {
  // Verifying against this costs what a real verify costs, so an unknown email is not
  // faster to answer than a wrong password.
  private readonly dummyHash: Promise<string>

  constructor(private readonly opts: Argon2Options) {
    this.dummyHash = this.hash('timing-equaliser-not-a-password')
  }

  hash(password: string): Promise<string> {
    return argon2.hash(normalise(password), {
      type: argon2.argon2id,
      memoryCost: this.opts.memoryKiB,
      timeCost: this.opts.timeCost,
      parallelism: this.opts.parallelism,
    })
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
      await argon2.verify(await this.dummyHash, normalise(password)).catch(() => false)
      return false
    }
    try {
      return await argon2.verify(hash, normalise(password))
    } catch {
      return false
    }
  }
}

// The same password typed on two keyboards can arrive as different code points (é as one
// or as e + combining accent); NFC makes them one.
export function normalise(password: string): string {
  return password.normalize('NFC')
}
