#!/usr/bin/env node
// Builds what `npm start` and the package run: the Prisma client, the client SDK's error codes
// (generated from src/errors.ts), src/ compiled to dist/ (with declaration files), the
// standalone server bundled into one file for `npm start` (scripts/bundle-server.mjs), and the
// client SDK to client/dist. `prepare` runs it, so a fresh
// `npm install` (or `npm ci`) leaves everything built with no extra step.
//
//   node scripts/build.mjs             always build
//   node scripts/build.mjs --if-stale  only when a source is newer than the last build
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const stamp = join(root, 'dist', '.build-stamp')

function newest(path) {
  if (!existsSync(path)) return 0
  const s = statSync(path)
  if (!s.isDirectory()) return s.mtimeMs
  let max = 0
  for (const entry of readdirSync(path)) {
    if (entry === 'generated' || entry === 'node_modules' || entry === 'dist') continue
    max = Math.max(max, newest(join(path, entry)))
  }
  return max
}

const sources = ['src', 'client/src', 'prisma/schema.prisma', 'tsconfig.json', 'tsconfig.build.json', 'client/tsconfig.build.json', 'package-lock.json', 'scripts/bundle-server.mjs']
if (process.argv.includes('--if-stale') && existsSync(stamp)) {
  const built = statSync(stamp).mtimeMs
  if (sources.every((s) => newest(join(root, s)) <= built)) process.exit(0)
}

function run(label, args) {
  const started = Date.now()
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    console.error(`build: ${label} failed`)
    process.exit(result.status ?? 1)
  }
  console.error(`build: ${label} (${Date.now() - started} ms)`)
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs')
run('prisma client', [join(root, 'scripts', 'prisma-generate.mjs'), '--if-stale'])
run('client error codes', [tsx, join(root, 'scripts', 'gen-client-errors.ts')])
// Built beside and swapped in, so a server or bench process running from dist/ never sees it
// half-written, and files of deleted sources do not linger.
function swap(dir) {
  rmSync(join(root, dir), { recursive: true, force: true })
  renameSync(join(root, `${dir}.next`), join(root, dir))
}
rmSync(join(root, 'dist.next'), { recursive: true, force: true })
run('server (dist/)', [tsc, '-p', 'tsconfig.build.json', '--outDir', 'dist.next'])
run('server bundle (dist/server/main.bundle.js, for npm start)', [join(root, 'scripts', 'bundle-server.mjs'), 'dist.next'])
rmSync(join(root, 'client', 'dist.next'), { recursive: true, force: true })
run('client SDK (client/dist/)', [tsc, '-p', 'client/tsconfig.build.json', '--outDir', 'client/dist.next'])
swap('dist')
swap(join('client', 'dist'))
writeFileSync(stamp, new Date().toISOString())
