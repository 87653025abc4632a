// `npm start` rebuilds dist/ first when a source is newer than the last build, as `npm test`
// does. Its guard is a `find` in the start script itself rather than a `prestart` script, so
// that a start with nothing to build costs no second node process (about 0.13 s of the 1.5 s
// the first answer may take on this project's 2-core machine). The guard may send a fresh tree
// to scripts/build.mjs --if-stale, which then decides exactly; it must never skip a stale one.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')
const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
const BUILD = 'node scripts/build.mjs --if-stale'
// `<guard> || <build> && <server>`: sh reads it as ((guard) || build) && server.
const [guard, rest] = scripts.start!.split(` || ${BUILD} && `) as [string, string | undefined]

/** build.mjs's own list of what a build is made from */
function buildSources(): string[] {
  const m = /const sources = \[([^\]]*)\]/.exec(readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8'))
  return [...m![1]!.matchAll(/'([^']+)'/g)].map((x) => x[1]!)
}

it('the start script is the guard, then the build if it is stale, then exec node', () => {
  expect(rest).toMatch(/^(?:[A-Z_]+=\S+\s+)*exec node /)
  expect(scripts.prestart).toBeUndefined()
  // and sh reads the whole script without a syntax error
  expect(execFileSync('sh', ['-n', '-c', scripts.start!]).length).toBe(0)
})

it('the guard looks at exactly the sources build.mjs compares with its stamp', () => {
  const listed = /find (.+?) -newer dist\/\.build-stamp/.exec(guard)![1]!.split(' ')
  expect(listed.sort()).toEqual(buildSources().sort())
})

let tree: string
beforeEach(() => {
  // A tree of every source, all older than the stamp.
  tree = mkdtempSync(join(tmpdir(), 'auth-start-guard-'))
  const past = new Date(Date.now() - 3_600_000)
  for (const source of buildSources()) {
    const file = source.includes('.') ? join(tree, source) : join(tree, source, 'index.ts')
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, '')
    utimesSync(file, past, past)
    if (file !== join(tree, source)) utimesSync(join(tree, source), past, past)
  }
  mkdirSync(join(tree, 'dist'))
  writeFileSync(join(tree, 'dist', '.build-stamp'), '')
})
afterEach(() => rmSync(tree, { recursive: true, force: true }))

const fresh = () => spawnSync('sh', ['-c', guard], { cwd: tree }).status === 0

it('the guard passes a tree built after its sources, and only that', () => {
  expect(fresh()).toBe(true)
  // A source edited after the build, deep in a folder.
  const later = new Date(Date.now() + 60_000)
  mkdirSync(join(tree, 'src', 'auth'), { recursive: true })
  writeFileSync(join(tree, 'src', 'auth', 'password.ts'), '')
  utimesSync(join(tree, 'src', 'auth', 'password.ts'), later, later)
  expect(fresh()).toBe(false)
})

it('the guard sends a tree with no build stamp to the build', () => {
  rmSync(join(tree, 'dist', '.build-stamp'))
  expect(fresh()).toBe(false)
})

it('the guard sends a changed lockfile (new dependencies) to the build', () => {
  const later = new Date(Date.now() + 60_000)
  utimesSync(join(tree, 'package-lock.json'), later, later)
  expect(fresh()).toBe(false)
})
