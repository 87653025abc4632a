// The demo web app: a page at `/` that uses the client SDK in cookie mode, and the SDK
// itself at `/sdk.js`, bundled from client/src by esbuild on first request and kept in
// memory. No database query; hidden from the OpenAPI document.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync } from 'fastify'
import type {} from '@fastify/swagger' // brings the `hide` schema keyword into FastifySchema

export interface DemoOptions {
  /** folder holding index.html, demo.js and demo.css (default: the repository's public/) */
  publicDir?: string
  /** the SDK's entry point (default: client/src/index.ts) */
  sdkEntry?: string
}

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  '/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
}

export async function bundleSdk(entry: string): Promise<string> {
  const { build } = await import('esbuild')
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

const demo: FastifyPluginAsync<DemoOptions> = async (fastify, opts) => {
  const publicDir = opts.publicDir ?? fileURLToPath(new URL('../../public/', import.meta.url))
  const sdkEntry = opts.sdkEntry ?? fileURLToPath(new URL('../../client/src/index.ts', import.meta.url))
  const cache = new Map<string, Promise<string>>()

  // Built or read once; a failure is not cached, so the next request tries again.
  function cached(key: string, load: () => Promise<string>): Promise<string> {
    let p = cache.get(key)
    if (!p) {
      p = load()
      cache.set(key, p)
      p.catch(() => cache.delete(key))
    }
    return p
  }

  for (const [url, { file, type }] of Object.entries(FILES)) {
    fastify.get(url, { schema: { hide: true } }, async (_request, reply) => {
      const body = await cached(url, () => readFile(`${publicDir}/${file}`, 'utf8'))
      return reply.type(type).header('cache-control', 'no-cache').send(body)
    })
  }

  fastify.get('/sdk.js', { schema: { hide: true } }, async (request, reply) => {
    let body: string
    try {
      body = await cached('/sdk.js', () => bundleSdk(sdkEntry))
    } catch (err) {
      request.log.error({ err }, 'could not bundle the client SDK')
      throw err
    }
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(body)
  })
}

export default demo
