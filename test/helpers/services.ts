// The services of the plugin, from the composition root, for tests that drive them directly
// (exact interleavings that HTTP cannot pin down).
import type { Config } from '../../src/server/config.js'
import type { PasswordHasher } from '../../src/auth/password.js'
import { resolveAuthOptions } from '../../src/options.js'
import { createCore, type CoreLogger } from '../../src/core.js'

const quiet: CoreLogger = { child: () => quiet, info() {}, warn() {}, error() {}, debug() {} }

export async function buildServices(config: Config, url: string, opts: { passwords?: PasswordHasher } = {}) {
  const core = createCore(resolveAuthOptions({ ...config.auth, database: { url, poolSize: 4 } }), { log: quiet, passwords: opts.passwords })
  return { ...core, close: () => core.close() }
}

export type Services = Awaited<ReturnType<typeof buildServices>>
