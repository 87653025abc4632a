#!/usr/bin/env node
// Generates the Prisma client without a network.
//
// `prisma generate` never runs the native schema engine, yet it tries to download one and
// fails where Prisma's download host is unreachable. When no engine is installed we point
// PRISMA_SCHEMA_ENGINE_BINARY at an existing file (this script) so the download is skipped.
// Where a real engine exists (a machine that could download it, or the variable already
// set by the user), it is left to Prisma as usual.
//
//   node scripts/prisma-generate.mjs             always generate
//   node scripts/prisma-generate.mjs --if-stale  only when schema.prisma or Prisma changed
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const schema = join(root, 'prisma', 'schema.prisma')
const stamp = join(root, 'src', 'generated', 'prisma', '.schema-hash')
const prismaPkg = require.resolve('prisma/package.json')
const prismaVersion = JSON.parse(readFileSync(prismaPkg, 'utf8')).version

const hash = createHash('sha256').update(readFileSync(schema)).update(prismaVersion).digest('hex')
if (process.argv.includes('--if-stale') && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) process.exit(0)

function installedEngine() {
  for (const dir of [join(root, 'node_modules', '@prisma', 'engines'), join(root, 'node_modules', 'prisma')]) {
    if (!existsSync(dir)) continue
    const found = readdirSync(dir).find((f) => f.startsWith('schema-engine'))
    if (found) return join(dir, found)
  }
  return null
}

const env = { ...process.env }
if (!env.PRISMA_SCHEMA_ENGINE_BINARY && !installedEngine()) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = fileURLToPath(import.meta.url)
}
const cli = join(dirname(prismaPkg), 'build', 'index.js')
const result = spawnSync(process.execPath, [cli, 'generate'], { cwd: root, env, stdio: 'inherit' })
if (result.status !== 0) process.exit(result.status ?? 1)
writeFileSync(stamp, hash)
