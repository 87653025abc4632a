// Where a Bearer client keeps its tokens. The web app never uses this: in cookie mode the
// tokens live in httpOnly cookies that no script can read. Mobile apps pass a callback
// object over their platform's secure storage (Keychain / Keystore, e.g. expo-secure-store).

export interface Tokens {
  accessToken: string
  refreshToken: string
}

/**
 * Secure-storage callbacks. `get` is called before every authenticated request and after
 * every failure, so that a failure never clears tokens another request already replaced;
 * implementations may cache in memory.
 */
export interface TokenStorage {
  get(): Promise<Tokens | null>
  set(tokens: Tokens): Promise<void>
  clear(): Promise<void>
}

/** Tokens in memory only (a server-side script, tests, or an app that logs in on every start). */
export function memoryStorage(initial: Tokens | null = null): TokenStorage {
  let tokens = initial
  return {
    async get() {
      return tokens
    },
    async set(t) {
      tokens = { accessToken: t.accessToken, refreshToken: t.refreshToken }
    },
    async clear() {
      tokens = null
    },
  }
}

export function sameTokens(a: Tokens | null, b: Tokens | null): boolean {
  if (a === null || b === null) return a === b
  return a.accessToken === b.accessToken && a.refreshToken === b.refreshToken
}
