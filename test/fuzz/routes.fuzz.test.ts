// Random bodies, headers and cookies on every route: never a 5xx, never an unhandled
// rejection, never a change to another user's data, even when the requests name that user.
//   npm test                        seeded, FUZZ_RUNS (default 3000) cases
//   npm run fuzz:long               100k cases with a random seed (prints the seed to replay)
//   FUZZ_SEED=n npm run fuzz:long   replays one
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp, settledStatements } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { loginBearer, register, sidOf } from '../helpers/flows.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000)
// Chosen here, not by the shell: npm runs scripts with sh, which has no $RANDOM.
const SEED =
  process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? 20261127)
if (!Number.isSafeInteger(RUNS) || RUNS < 1 || !Number.isSafeInteger(SEED)) {
  throw new Error(`FUZZ_RUNS must be a positive integer and FUZZ_SEED an integer or "random"`)
}
// Printed before the run, so a crash or timeout still leaves the seed to replay.
console.info(`[fuzz] ${RUNS} cases, seed ${SEED} (replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} npm run fuzz:long)`)

// Routes the OpenAPI document must list at the least. Not a fallback: a document that cannot
// be read, or that lost one of these, fails the run instead of fuzzing a shorter list.
const KNOWN_ROUTES: [string, string][] = [
  ['POST', '/auth/register'],
  ['POST', '/auth/login'],
  ['POST', '/auth/refresh'],
  ['POST', '/auth/logout'],
  ['POST', '/auth/password'],
  ['POST', '/auth/password/forgot'],
  ['POST', '/auth/password/reset'],
  ['POST', '/auth/email/verify'],
  ['POST', '/auth/email/verify/resend'],
  ['POST', '/auth/email/change'],
  ['POST', '/auth/email/change/confirm'],
  ['POST', '/auth/email/change/undo'],
  ['GET', '/auth/me'],
  ['GET', '/auth/sessions'],
  ['DELETE', '/auth/sessions/:param'],
  ['GET', '/auth/sessions/events'],
  ['GET', '/auth/.well-known/jwks.json'],
  ['POST', '/auth/mfa/verify'],
  ['POST', '/auth/mfa/totp/enroll'],
  ['POST', '/auth/reauthenticate'],
  ['POST', '/auth/passkeys/login'],
  ['POST', '/auth/passkeys/register'],
  ['DELETE', '/auth/passkeys/:param'],
]

let t: TestApp
let routes: [string, string][]
let attacker: { accessToken: string; refreshToken: string }
let victim: { id: string; email: string; sid: string }
let victimSnapshot: string

// Everything of the victim's that a request could change. Failed logins naming the victim's
// address are the exception on purpose: anyone may fail to log in as someone, and the owner
// should see it in the trail.
async function snapshotOf(userId: string): Promise<string> {
  const rows = await Promise.all([
    adminQuery('SELECT * FROM auth.users WHERE id = $1', [userId], t.databaseUrl),
    adminQuery(`SELECT * FROM auth.audit_events WHERE user_id = $1 AND type <> 'login_failure' ORDER BY id`, [userId], t.databaseUrl),
    adminQuery('SELECT * FROM auth.token_families WHERE user_id = $1 ORDER BY id', [userId], t.databaseUrl),
    adminQuery(
      'SELECT t.* FROM auth.refresh_tokens t JOIN auth.token_families f ON f.id = t.family_id WHERE f.user_id = $1 ORDER BY t.id',
      [userId],
      t.databaseUrl,
    ),
  ])
  return JSON.stringify(rows)
}

beforeAll(async () => {
  t = await buildTestApp({ env: { DENYLIST_SYNC_INTERVAL_MS: '60000' } })
  // Every documented route is fuzzed, including ones added after this file was written.
  const doc = await t.app.inject({ url: '/docs/json' })
  if (doc.statusCode !== 200) throw new Error(`GET /docs/json answered ${doc.statusCode}: the routes to fuzz are unknown`)
  const paths = (doc.json() as { paths?: Record<string, Record<string, unknown>> }).paths ?? {}
  routes = Object.entries(paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => [m.toUpperCase(), path.replace(/\{[^}]+\}/g, ':param')] as [string, string]),
  )
  const missing = KNOWN_ROUTES.filter(([m, p]) => !routes.some(([rm, rp]) => rm === m && rp === p))
  if (missing.length > 0) throw new Error(`/docs/json does not list ${missing.map((r) => r.join(' ')).join(', ')}`)
  const v = await register(t.app)
  const session = await loginBearer(t.app, v.email, v.password)
  victim = { id: v.id, email: v.email, sid: sidOf(session.accessToken) }
  await settledStatements(t.app)
  victimSnapshot = await snapshotOf(victim.id)
  attacker = await loginBearer(t.app)
}, 60_000)
afterAll(() => t.close())

const tokenLike = () =>
  fc.oneof(
    fc.string({ maxLength: 64 }),
    fc.base64String({ maxLength: 400 }),
    fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    fc.constantFrom(attacker.accessToken, attacker.refreshToken, `${attacker.accessToken}x`, attacker.refreshToken.slice(1)),
    fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => p.join('.')),
    fc.string({ unit: 'binary', maxLength: 32 }),
  )

// Something shaped like a PublicKeyCredential's JSON, its client data naming a challenge, with
// random (or missing, or mistyped) parts: the WebAuthn parsing must refuse it, never fail.
const b64 = (s: string) => Buffer.from(s).toString('base64url')
const webauthnLike = () =>
  fc.record(
    {
      id: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), fc.string()),
      rawId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      type: fc.constantFrom('public-key', 'other'),
      response: fc.record(
        {
          clientDataJSON: fc.oneof(
            fc.record({ type: fc.constantFrom('webauthn.get', 'webauthn.create'), challenge: fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/), origin: fc.constantFrom('http://localhost:3000', 'https://evil.example') }, { noNullPrototype: true }).map((o) => b64(JSON.stringify(o))),
            fc.stringMatching(/^[A-Za-z0-9_-]{1,200}$/),
            fc.string(),
          ),
          authenticatorData: fc.stringMatching(/^[A-Za-z0-9_-]{1,200}$/),
          signature: fc.stringMatching(/^[A-Za-z0-9_-]{1,200}$/),
          attestationObject: fc.stringMatching(/^[A-Za-z0-9_-]{1,300}$/),
          userHandle: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        },
        { requiredKeys: [], noNullPrototype: true },
      ),
      clientExtensionResults: fc.constantFrom({}, { credProps: { rk: true } }),
    },
    { requiredKeys: [], noNullPrototype: true },
  )

const headerValue = () => fc.string({ maxLength: 80 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s))

const bodyArb = () =>
  fc.oneof(
    fc.record(
      {
        // Binary strings carry NUL and the other control characters (a 500 from Postgres once).
        email: fc.oneof(
          fc.emailAddress(),
          fc.constant(victim.email),
          fc.string(),
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.emailAddress().map((e) => e.replace("@", "\u0000@")),
          fc.integer(),
          fc.constant(null),
        ),
        password: fc.oneof(fc.string({ maxLength: 1100 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.integer()),
        refresh_token: fc.oneof(tokenLike(), fc.integer(), fc.constant(null), fc.array(fc.string())),
        grant_type: fc.oneof(fc.constant('refresh_token'), fc.string()),
        current_password: fc.string({ maxLength: 40 }),
        new_password: fc.string({ maxLength: 40 }),
        scope: fc.oneof(fc.constantFrom('current', 'all', 'others'), fc.string()),
        // second factors and passkeys
        challenge: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{43}$/), fc.string({ maxLength: 50 })),
        code: fc.oneof(fc.stringMatching(/^[0-9]{6}$/), fc.string({ maxLength: 8 }), fc.integer()),
        recovery_code: fc.oneof(fc.stringMatching(/^[0-9a-z]{5}-[0-9a-z]{5}$/), fc.string({ maxLength: 40 })),
        passkey: webauthnLike(),
        credential: webauthnLike(),
      },
      { requiredKeys: [] },
    ),
    fc.json().map((j) => JSON.parse(j) as unknown),
    fc.anything({ maxDepth: 3 }).map((v) => {
      try {
        return JSON.parse(JSON.stringify(v) ?? 'null') as unknown
      } catch {
        return null
      }
    }),
  )

const requestArb = () =>
  fc.record({
    route: fc.constantFrom(...routes),
    // Mostly the route's own method; sometimes another one.
    method: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 9 },
      { arbitrary: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'), weight: 1 },
    ),
    // The victim's session and user ids too: naming them must not be enough to touch them.
    param: fc.oneof(fc.uuid(), fc.constantFrom(victim.sid, victim.id), fc.string({ maxLength: 20 }), fc.constant('../../etc/passwd')),
    query: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 3 }), { nil: undefined }),
    contentType: fc.constantFrom(
      'application/json',
      'application/x-www-form-urlencoded',
      'text/plain',
      'application/json; charset=utf-16',
      'multipart/form-data; boundary=x',
      undefined,
    ),
    rawBody: fc.option(fc.oneof(fc.string({ maxLength: 200 }), fc.constant('{"a":'), fc.constant('grant_type=refresh_token&refresh_token=')), { nil: undefined }),
    body: bodyArb(),
    authorization: fc.option(fc.oneof(tokenLike().map((s) => `Bearer ${s}`), headerValue()), { nil: undefined }),
    // A list, not a map: one name may come more than once, as a planted cookie makes it.
    cookies: fc.array(
      fc.tuple(fc.constantFrom('access_token', 'refresh_token', '__Host-access_token', 'x'), tokenLike().map((s) => encodeURIComponent(s))),
      { maxLength: 4 },
    ),
    transport: fc.option(fc.constantFrom('cookie', 'bearer', 'COOKIE', ''), { nil: undefined }),
    origin: fc.option(fc.constantFrom('https://evil.example', 'null', 'http://localhost:3000'), { nil: undefined }),
  })

describe('fuzzing every route', () => {
  it(`answers ${RUNS} random requests without a 5xx`, async () => {
    let cases = 0
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(requestArb(), async (r) => {
        cases++
        const [routeMethod, path] = r.route
        const url = path.replace(':param', encodeURIComponent(r.param))
        const headers: Record<string, string> = {}
        if (r.authorization !== undefined) headers.authorization = r.authorization
        if (r.transport !== undefined) headers['x-auth-transport'] = r.transport
        if (r.origin !== undefined) headers.origin = r.origin
        const cookie = r.cookies.map(([k, v]) => `${k}=${v}`).join('; ')
        if (cookie) headers.cookie = cookie
        let payload: string | undefined
        if (r.contentType) {
          headers['content-type'] = r.contentType
          payload =
            r.rawBody ??
            (r.contentType.startsWith('application/x-www-form-urlencoded')
              ? new URLSearchParams(Object.entries((r.body ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)])).toString()
              : JSON.stringify(r.body))
        }
        const method = (r.method ?? routeMethod) as 'GET' | 'HEAD' | 'POST' | 'DELETE' | 'PUT' | 'PATCH' | 'OPTIONS'
        const res = await t.app.inject({
          method,
          url,
          query: r.query,
          headers,
          payload: method === 'GET' || method === 'HEAD' ? undefined : payload,
        })
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
        if (res.statusCode >= 500) {
          throw new Error(`${method} ${url} -> ${res.statusCode} ${res.body}`)
        }
        if (res.statusCode >= 400 && method !== 'HEAD' && res.body) {
          const body = res.json()
          expect(Object.keys(body).sort()).toEqual(['error', 'error_description'])
        }
      }),
      { numRuns: RUNS, seed: SEED, verbose: 1 },
    )
    expect(cases).toBeGreaterThanOrEqual(RUNS)
    console.info(`[fuzz] ${cases} cases over ${routes.length} routes, seed ${SEED}; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
    // Another user's rows are exactly as they were.
    await settledStatements(t.app)
    expect(await snapshotOf(victim.id)).toBe(victimSnapshot)
  }, Math.max(600_000, RUNS * 20))
})
