// One HTTP exchange with a per-attempt timeout, retried with backoff and jitter when the
// answer (or its absence) says nothing happened: 429, 502, 503, 504, a network error or a
// timeout. Retry-After is honoured. A caller's own abort is never retried.
import { AuthError, TRANSIENT_STATUSES, parseRetryAfter } from './errors.js'

export interface RetryOptions {
  /** tries in all, the first included (default 4) */
  attempts: number
  /** first backoff; doubles on each retry (default 250 ms) */
  baseDelayMs: number
  /** backoff ceiling (default 5 s) */
  maxDelayMs: number
  /** a Retry-After longer than this is not waited for: the answer is returned or thrown (default 30 s) */
  maxRetryAfterMs: number
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 250, maxDelayMs: 5000, maxRetryAfterMs: 30_000 }

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

export interface HttpDeps {
  fetch: FetchLike
  /** per attempt, until the response headers arrive; 0 disables */
  timeoutMs: number
  retry: RetryOptions
  sleep(ms: number, signal?: AbortSignal | null): Promise<void>
  random(): number
}

export interface SendOptions {
  /**
   * Retry after a network error, a timeout, 502 or 504, where the server may or may not have
   * acted. Right for reads and for refresh (a replayed refresh gets the same answer); not for
   * a non-idempotent call. 429 and 503 (which this server sends only when it did nothing)
   * are always retried.
   */
  retryUnknownOutcome: boolean
}

class Timeout extends Error {}

/** Equal jitter: half the exponential step fixed, half random, so retries never bunch up at 0. */
export function backoffDelay(retry: RetryOptions, attempt: number, random: () => number): number {
  const step = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1))
  return step / 2 + random() * (step / 2)
}

export function defaultSleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

async function fetchOnce(deps: HttpDeps, url: string, init: RequestInit): Promise<Response> {
  const outer = init.signal
  const ctrl = new AbortController()
  let timedOut = false
  const timer = deps.timeoutMs > 0 ? setTimeout(() => ((timedOut = true), ctrl.abort()), deps.timeoutMs) : undefined
  const onAbort = () => ctrl.abort(outer?.reason)
  if (outer?.aborted) ctrl.abort(outer.reason)
  else outer?.addEventListener('abort', onAbort, { once: true })
  try {
    return await deps.fetch(url, { ...init, signal: ctrl.signal })
  } catch (err) {
    if (timedOut && !outer?.aborted) throw new Timeout()
    throw err
  } finally {
    if (timer !== undefined) clearTimeout(timer)
    outer?.removeEventListener('abort', onAbort)
  }
}

/** Frees the connection of a response we are not going to read. */
export function discard(res: Response): void {
  res.body?.cancel().catch(() => {})
}

/**
 * Returns the last response (a transient status when retries ran out), or throws an
 * AuthError('transient', 'network_error' | 'timeout') when no answer ever arrived.
 */
export async function send(deps: HttpDeps, url: string, init: RequestInit, opts: SendOptions): Promise<Response> {
  const { retry } = deps
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= retry.attempts
    let res: Response
    try {
      res = await fetchOnce(deps, url, init)
    } catch (err) {
      if (init.signal?.aborted) throw err
      const failure =
        err instanceof Timeout
          ? new AuthError('transient', 'timeout', `no answer within ${deps.timeoutMs} ms`)
          : new AuthError('transient', 'network_error', err instanceof Error ? err.message : String(err))
      if (last || !opts.retryUnknownOutcome) throw failure
      await deps.sleep(backoffDelay(retry, attempt, deps.random), init.signal)
      continue
    }
    if (last || !TRANSIENT_STATUSES.has(res.status)) return res
    if ((res.status === 502 || res.status === 504) && !opts.retryUnknownOutcome) return res
    const retryAfter = parseRetryAfter(res.headers.get('retry-after'))
    if (retryAfter !== undefined && retryAfter > retry.maxRetryAfterMs) return res
    discard(res)
    await deps.sleep(Math.max(backoffDelay(retry, attempt, deps.random), retryAfter ?? 0), init.signal)
  }
}
