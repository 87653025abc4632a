import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { resolveAuthOptions } from './dist/options.js'
import { createCore } from './dist/core.js'
const quiet = { child: () => quiet, info() {}, warn() {}, error() {}, debug() {} }
const key = generateKeyPairSync('ed25519').privateKey
const settings = resolveAuthOptions({ production: false, database: { url: process.env.DATABASE_URL, poolSize: 10 }, keys: { signing: { kid: 'k', privateKey: key }, refreshTokenSecret: randomBytes(32) }, mail: { transport: 'log' } })
const core = createCore(settings, { log: quiet })
const user = await core.users.create(`p${Date.now()}@example.com`, 'x')
const N = Number(process.env.N ?? 3000)
const sessions = []
for (let i = 0; i < N; i++) sessions.push(await core.sessions.start(user, { ip: '1.2.3.4', userAgent: 'x' }))
const meta = { ip: '1.2.3.4', userAgent: 'x' }
const c0 = process.cpuUsage(); const t0 = performance.now()
let i = 0
await Promise.all(Array.from({ length: 16 }, async () => { while (i < N) { const s = sessions[i++]; await core.sessions.refresh(s.refreshToken, meta) } }))
const c = process.cpuUsage(c0); const ms = performance.now() - t0
console.log(`refresh: ${(N / ms * 1000).toFixed(0)}/s, CPU ${((c.user + c.system) / N).toFixed(0)} µs/refresh, statements ${core.db.queryCount()}`)
await core.close()
