// The benchmark suite runs end to end: `bench/run.ts` in smoke mode (BENCH_SMOKE=1: 1 s per
// run, small data sets, the runs that add no new code path skipped) against this test run's
// PostgreSQL, and writes its JSON, Markdown and SVG. No figure is asserted: timings on a
// shared CI machine prove nothing, and `npm run bench` is where they are measured.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, inject, it } from 'vitest'

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, output }))
  })
}

it('bench/run.ts completes in smoke mode and writes JSON, Markdown and SVG', async () => {
  const out = await mkdtemp(join(tmpdir(), 'bench-smoke-'))
  try {
    const { code, output } = await run(['--import', 'tsx', 'bench/run.ts'], {
      ...process.env,
      BENCH_SMOKE: '1',
      BENCH_OUT: out,
      BENCH_NAME: 'smoke',
      DATABASE_URL: inject('adminDatabaseUrl'),
    })
    expect(code, output.slice(-4000)).toBe(0)

    const results = JSON.parse(await readFile(join(out, 'smoke.json'), 'utf8'))
    expect(Object.keys(results)).toEqual(
      expect.arrayContaining(['meta', 'runs', 'ceilingC', 'comparisons', 'dataSize', 'scaling', 'refresh', 'checks', 'seeding', 'catchUp']),
    )
    const compared = results.comparisons.map((c: { id: string }) => c.id)
    expect(compared).toEqual(
      expect.arrayContaining(['me-bearer-1k', 'me-cookie-1k', 'refresh-1k', 'login', 'me-bearer-1M', 'refresh-1M', 'scale-me-cluster-2', 'scale-me-direct-2', 'scale-refresh-cluster-2']),
    )
    for (const c of results.comparisons) expect(Object.keys(c)).toEqual(expect.arrayContaining(['rps', 'p50', 'p99', 'ceilingRps', 'ratio']))
    expect(Object.keys(results.dataSize)).toEqual(expect.arrayContaining(['GET /me Bearer', 'POST /auth/refresh']))
    expect(results.runs.map((r: { id: string }) => r.id)).toEqual(expect.arrayContaining(['ceiling-a', 'ceiling-b-1k', 'ceiling-b-1M', 'ceiling-a-x2']))
    expect((await stat(join(out, 'smoke.md'))).size).toBeGreaterThan(0)
    expect(await readFile(join(out, 'smoke.svg'), 'utf8')).toMatch(/^<svg /)
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}, 240_000)
