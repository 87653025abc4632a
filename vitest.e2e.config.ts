// Browser tests: the real app on a real socket, driven in headless Chromium (Debian's
// `chromium`, through playwright-core). `npm run test:e2e`; `.ci/run` installs Chromium.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // One browser at a time: the checks involve timing across tabs.
    fileParallelism: false,
  },
})
