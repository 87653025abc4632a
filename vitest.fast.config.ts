// The fast tier for the edit-test loop (`npm run test:fast`, under a minute): pure units and
// route tests through `inject`, on the embedded PostgreSQL. `npm test` is the full suite that
// CI runs; it adds real sockets, several instances and processes, faults, the fuzzer, timing,
// the embedded server's lifecycle, the benchmark harness and the examples.
import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: [
      'test/tokens/**/*.test.ts',
      'test/limits/**/*.test.ts',
      'test/http/**/*.test.ts',
      'test/audit/**/*.test.ts',
      'test/mail/**/*.test.ts',
      'test/client/**/*.test.ts',
      'test/auth/**/*.test.ts',
      'test/resource-server/**/*.test.ts',
      'test/config.test.ts',
      'test/env-example.test.ts',
      'test/routes/**/*.test.ts',
      'test/app/{access-token-attacks,control-characters,duplicate-cookies,www-authenticate,errors}.test.ts',
    ],
    // Route tests that wait out real lock times and windows, stand up a second instance, or
    // count the statements of the hot paths.
    exclude: [
      ...configDefaults.exclude,
      'test/routes/auth/{login-lockout,login-proof-of-work,login-rehash,hot-path-statements}.test.ts',
      'test/routes/sessions/revoke.test.ts',
      'test/routes/health.test.ts',
      'test/client/proof-of-work.test.ts',
    ],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Modules loaded once per worker, not once per file: the tier's time is mostly imports.
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: true,
  },
})
