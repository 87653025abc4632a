// The benchmark suite runs end to end: `bench/run.ts` in smoke mode (BENCH_SMOKE=1: 1 s per
// run, small data sets, the runs that add no new code path skipped) against this test run's
// PostgreSQL and the built dist/, and writes its JSON, Markdown and SVG. No figure is asserted:
// timings on a shared CI machine prove nothing, and `npm run bench` is where they are measured.
// What is asserted is that every row is there and every process was read through its /metrics.
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
    expect(Object.keys(results)).toEqual(expect.arrayContaining(['meta', 'runs', 'comparisons', 'refresh', 'login', 'checks', 'seeding', 'accessCheck']))
    const runs = results.runs.map((r: { id: string }) => r.id)
    expect(runs).toEqual(expect.arrayContaining(['ceiling-a', 'ceiling-a2', 'ceiling-b', 'ceiling-c@login', 'me-1', 'me-1-logged', 'me-200', 'notes-1', 'notes-200', 'refresh', 'login', 'me-200-x2']))
    const pairs = results.comparisons.map((c: { id: string; ceilingId: string }) => `${c.id} ${c.ceilingId}`)
    expect(pairs).toEqual(
      expect.arrayContaining([
        'me-1 ceiling-a',
        'me-1-logged ceiling-a',
        'me-200 ceiling-a',
        'me-200 ceiling-a2',
        'notes-1 ceiling-a',
        'notes-200 ceiling-a',
        'notes-200 ceiling-a2',
        'refresh ceiling-b',
        'login ceiling-c',
      ]),
    )
    // Every figure with a goal is judged against a ceiling measured in rounds alternating with it.
    const judged = results.comparisons.filter((c: { instances: number; ceilingId: string }) => c.instances === 1 && c.ceilingId !== 'ceiling-a2')
    expect(judged.map((c: { id: string; ceilingRunId: string }) => `${c.id} ${c.ceilingRunId}`)).toEqual(
      judged.map((c: { id: string; ceilingId: string }) => `${c.id} ${c.ceilingId}@${c.id}`),
    )
    expect(judged.length).toBe(7)
    for (const c of results.comparisons) {
      expect(Object.keys(c)).toEqual(expect.arrayContaining(['rps', 'p50', 'p99', 'ceilingRps', 'ceilingP99', 'ratio', 'cpuUsPerRequest', 'dbStatementsPerRequest', 'rssIdleMiB', 'rssLoadMiB']))
    }
    // Not timings: that each process's counters were read from its /metrics at all.
    const runOf = (id: string) => results.runs.find((r: { id: string }) => r.id === id)
    for (const r of results.runs) expect(r.server.cpuMs.every((ms: number) => ms > 0), r.id).toBe(true)
    expect(runOf('refresh').server.dbStatements).toBeGreaterThan(0)
    expect(runOf('login').server.dbStatements).toBeGreaterThan(0)
    expect(results.checks.accessDbStatementsAllZero, JSON.stringify(results.checks.accessDbStatements)).toBe(true)
    // npm start, spawned once in smoke mode, answered live and then ready
    expect(results.start!.liveMs).toHaveLength(1)
    expect(results.start!.readyMs[0]).toBeGreaterThanOrEqual(results.start!.liveMs[0]!)
    expect((await stat(join(out, 'smoke.md'))).size).toBeGreaterThan(0)
    expect(await readFile(join(out, 'smoke.svg'), 'utf8')).toMatch(/^<svg /)
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}, 120_000)

it('the bench starts the server exactly as npm start does (its environment, node flags and script)', async () => {
  const { startCommand } = await import('../../bench/lib/server.js')
  expect(startCommand()).toEqual({
    env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '67108864' },
    nodeFlags: ['--max-semi-space-size=4'],
    script: join(import.meta.dirname, '..', '..', 'dist', 'server', 'main.bundle.js'),
  })
})
