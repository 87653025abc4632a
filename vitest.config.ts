import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Browser tests have their own config and command (npm run test:e2e).
    exclude: [...configDefaults.exclude, 'test/e2e/**'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file gets its own database, so files can run side by side.
    fileParallelism: true,
  },
})
