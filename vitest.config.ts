import { availableParallelism } from 'node:os'
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
    // At least 3 workers: most files spend their time waiting on Postgres, so on a 2-core
    // machine (CI's) a third worker fills the cores (npm test 404 s with 2, 309 s with 3, all
    // passing). Larger machines keep vitest's default of one per core.
    maxWorkers: Math.max(availableParallelism(), 3),
  },
})
