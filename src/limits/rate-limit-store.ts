// The counters every instance shares: the per-IP limits, the per-address mail limit and the
// single use of each login proof of work. Postgres (rate_limit_counters) by default, Redis
// (@fastify/rate-limit's own Redis store script) when REDIS_URL is set. Either way:
// - the key is a SHA-256 (of the route and the client's address key, of the mail address, of
//   the proof), so neither store holds an address;
// - a store that fails answers 503 service_unavailable with Retry-After: never a 500, and
//   never a request let through uncounted (the plugin's skipOnError stays off);
// - an instance that has seen a key refused remembers it until its window ends and refuses it
//   again without asking the store. Windows are fixed and counts only grow, so that answer is
//   the store's own; it keeps a flood from one address off the database.
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import { ApiError, IpLimited } from '../errors.js'
import type { IpLimit } from './login-attempt-store.js'
import { isTransientDbError } from '../db/transient.js'
import type { CounterStore, WindowHit } from './counter-store.js'
import { ipKey } from './policy.js'
import { clientIp } from '../http/meta.js'

export interface CounterBackend {
  readonly name: 'postgres' | 'redis'
  hit(key: string, windowMs: number): Promise<WindowHit>
}

export function postgresCounters(counters: CounterStore): CounterBackend {
  return { name: 'postgres', hit: (key, windowMs) => counters.hit(key, windowMs) }
}

/**
 * The backend as every counter uses it: a failure is logged once here and becomes 503 with
 * Retry-After. A transient failure (unreachable, busy) is expected now and then; anything else
 * is a fault to fix, but the answer is the same: try again, nothing was let through.
 */
export function failingAs503(backend: CounterBackend, log: StoreLog): CounterBackend {
  return {
    name: backend.name,
    async hit(key, windowMs) {
      try {
        return await backend.hit(key, windowMs)
      } catch (err) {
        throw counterStoreFailed(err, backend.name, log)
      }
    },
  }
}

/** A counter store's failure, logged, as the answer it gets: 503 with Retry-After. */
export function counterStoreFailed(err: unknown, store: CounterBackend['name'], log: StoreLog): ApiError {
  if (isTransientDbError(err) || store === 'redis') log.warn({ err, store }, 'counter store unavailable')
  else log.error({ err, store }, 'counter store failed')
  return new ApiError('service_unavailable', 'The rate-limit store is unavailable; retry shortly.', 1)
}

type IncrCallback = (err: Error | null, result?: { current: number; ttl: number }) => void
interface PluginRedisStore {
  incr(key: string, cb: IncrCallback, timeWindow: number, max: number): void
}
type PluginRedisStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, prefix: string) => PluginRedisStore

// The plugin's Redis store (an atomic INCR + PEXPIRE script) is not exported by name; it is a
// plain CommonJS file of the package.
const PluginRedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as PluginRedisStoreCtor

/** Counters in Redis under `prefix` + `rl:` + the hashed key; each expires with its window. */
export function redisCounters(redis: Redis, prefix: string): CounterBackend {
  const store = new PluginRedisStore(false, false, redis, `${prefix}rl:`)
  return {
    name: 'redis',
    hit: (key, windowMs) =>
      new Promise((resolve, reject) => {
        // `max` only matters to the plugin's continueExceeding/exponentialBackoff, both off.
        store.incr(key, (err, res) => (err ? reject(err) : resolve({ count: res!.current, ttlMs: res!.ttl })), windowMs, 0)
      }),
  }
}

export interface StoreLog {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/**
 * The per-IP limiter of the plugin's routes: `limit(route, max)` is an onRequest hook that
 * allows `max` requests per window per client address (IPv6 by /64) on that route, and
 * answers 429 too_many_requests with Retry-After past it, before the body is read. Our own
 * hook rather than @fastify/rate-limit's plugin, whose decorators would collide with a host
 * that registers it too (and whose route config a host's instance would pick up).
 */
export function ipLimiter(backend: CounterBackend, windowSec: number, maxRemembered = 10_000) {
  const windowMs = windowSec * 1000
  // hashed key -> Date.now() at which its window ends, for keys seen refused
  const refusedUntil = new Map<string, number>()
  const remember = (key: string, until: number) => {
    refusedUntil.delete(key)
    if (refusedUntil.size >= maxRemembered) refusedUntil.delete(refusedUntil.keys().next().value!)
    refusedUntil.set(key, until)
  }
  const keyOf = (route: string, request: FastifyRequest) => createHash('sha256').update(`${route}\n${ipKey(clientIp(request) ?? '')}`, 'utf8').digest('hex')
  // Refuses a key remembered as refused whose window has not ended.
  const refuseRemembered = (hashed: string, now: number) => {
    const until = refusedUntil.get(hashed)
    if (until === undefined) return
    if (until > now) throw new IpLimited(hashed, until - now)
    refusedUntil.delete(hashed)
  }

  function limit(route: string, max: number) {
    return async function limitPerIp(request: FastifyRequest): Promise<void> {
      const hashed = keyOf(route, request)
      const now = Date.now()
      refuseRemembered(hashed, now)
      const hit = await backend.hit(hashed, windowMs)
      if (hit.count > max) {
        if (hit.ttlMs > 0) remember(hashed, now + hit.ttlMs)
        throw new IpLimited(hashed, hit.ttlMs)
      }
    }
  }

  /**
   * The same limit for a route whose own statement counts the request (the login's gate, one
   * round trip fewer), when the counters are in Postgres: null with Redis, where `limit` stays
   * the way. `onRequest` refuses a remembered address before the body is read, `of(request)` is
   * what the statement counts, and `onError` remembers the key its IpLimited names.
   */
  function counted(route: string, max: number): CountedLimit | null {
    if (backend.name !== 'postgres') return null
    return {
      async onRequest(request) {
        refuseRemembered(keyOf(route, request), Date.now())
      },
      of: (request) => ({ key: keyOf(route, request), max, windowMs }),
      async onError(_request, _reply, err) {
        if (err instanceof IpLimited && err.retryAfterMs > 0) remember(err.key, Date.now() + err.retryAfterMs)
      },
    }
  }

  return Object.assign(limit, { counted })
}

export interface CountedLimit {
  onRequest(request: FastifyRequest): Promise<void>
  of(request: FastifyRequest): IpLimit
  onError(request: FastifyRequest, reply: FastifyReply, err: Error): Promise<void>
}

export type IpLimiter = ReturnType<typeof ipLimiter>
