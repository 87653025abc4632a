// The demo web app: a page at `/` that uses the client SDK in cookie mode, and the SDK itself
// at `/sdk/*.js`, the built package (client/dist, made by the root's `npm install`). No
// database query; hidden from the OpenAPI document.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync } from 'fastify'
import type {} from '@fastify/swagger' // brings the `hide` schema keyword into FastifySchema
import { ApiError } from '../errors.js'

export interface DemoOptions {
  /** where the auth plugin is mounted, given to the page */
  authPath: string
  /** folder holding index.html, demo.js and demo.css (default: the repository's public/) */
  publicDir?: string
  /** the built SDK (default: client/dist) */
  sdkDir?: string
}

const PAGES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  '/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
  // The pages mail links open by default: the same page, which reads the path and `?token=`.
  '/reset-password': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/verify-email': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/confirm-email-change': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/undo-email-change': { file: 'index.html', type: 'text/html; charset=utf-8' },
}

// The SDK's own modules only: a name, never a path.
const SDK_FILE = /^[a-z0-9-]+\.js$/

const demo: FastifyPluginAsync<DemoOptions> = async (fastify, opts) => {
  const publicDir = opts.publicDir ?? fileURLToPath(new URL('../../public/', import.meta.url))
  const sdkDir = opts.sdkDir ?? fileURLToPath(new URL('../../client/dist/', import.meta.url))
  const cache = new Map<string, Promise<string>>()

  // Read once; a failure is not cached, so the next request tries again.
  function cached(path: string): Promise<string> {
    let p = cache.get(path)
    if (!p) {
      p = readFile(path, 'utf8')
      cache.set(path, p)
      p.catch(() => cache.delete(path))
    }
    return p
  }

  for (const [url, { file, type }] of Object.entries(PAGES)) {
    fastify.get(url, { schema: { hide: true } }, async (_request, reply) => {
      const body = (await cached(`${publicDir}/${file}`)).replaceAll('__AUTH_PATH__', opts.authPath)
      return reply.type(type).header('cache-control', 'no-cache').send(body)
    })
  }

  fastify.get<{ Params: { file: string } }>('/sdk/:file', { schema: { hide: true } }, async (request, reply) => {
    const { file } = request.params
    if (!SDK_FILE.test(file)) throw new ApiError('not_found')
    let body: string
    try {
      body = await cached(`${sdkDir}/${file}`)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (file === 'index.js') request.log.error('the client SDK is not built (client/dist); run npm install or npm run build:client')
        throw new ApiError('not_found')
      }
      throw err
    }
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(body)
  })
}

export default demo
