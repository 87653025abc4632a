// Statements sent to pg directly, written as tagged templates the way Prisma's $queryRaw takes
// them, so a statement reads the same wherever it runs. The paths a running instance takes on
// its own or under load (every login's and refresh's statements, the denylist's catch-up, the
// cleanup job) go this way: Prisma's query engine costs about 25 MB of resident memory once it
// has run a first statement, and tens of microseconds of CPU per statement. The rest of the
// code (account pages, second factors, interactive transactions) stays on Prisma, so an
// instance that only serves logins, refreshes and protected routes never loads it.
import type pg from 'pg'
import type { Tx } from './client.js'

/** A statement and its parameters, numbered $1, $2… in the order they appear. */
export class Statement {
  constructor(
    readonly text: string,
    readonly values: readonly unknown[],
  ) {}
}

/** SQL spliced in as it is, never a parameter: column lists and other constants of the code. */
export class Raw {
  constructor(readonly text: string) {}
}

export const raw = (text: string): Raw => new Raw(text)

/** `sql\`SELECT … WHERE id = ${id}::uuid\``: each value becomes a parameter, except a Raw, spliced in. */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): Statement {
  let text = strings[0]!
  const params: unknown[] = []
  values.forEach((value, i) => {
    if (value instanceof Raw) text += value.text
    else {
      params.push(value)
      text += `$${params.length}`
    }
    text += strings[i + 1]
  })
  return new Statement(text, params)
}

/** What runs statements: the (counted) pool, or a caller's Prisma transaction. */
export type Queryable = Pick<pg.Pool, 'query'> & { readonly [PREPARES]?: boolean }

/**
 * Set (true) on a pool whose connections each keep what they have prepared: our own pool,
 * straight to Postgres. Its statements are then prepared once per connection and planned from
 * a cached plan, instead of parsed and planned on every call (measured: 0.28 ms of Postgres CPU
 * for a login's gate statement, 0.30 ms for its session's, each as much as its execution). Not
 * through a transaction pooler (PgBouncer before 1.21 keeps no prepared statement across
 * transactions), and not on a host's pool, which may go through one.
 */
export const PREPARES = Symbol('prepares statements')

const isPool = (on: Queryable | Tx): on is Queryable => typeof (on as Tx).$queryRawUnsafe !== 'function'

// One name per distinct statement text; the statements are the code's own (values are
// parameters), so there are a few dozen. A stale one gets a new name, prepared afresh by each
// connection at its next use.
const names = new Map<string, string>()
let named = 0
const nameOf = (text: string): string => {
  let name = names.get(text)
  if (name === undefined) names.set(text, (name = `fa_${++named}`))
  return name
}

// A prepared statement the server no longer has as it was: its result's columns changed under
// it (a migration of a rolling deploy), or it is gone (a session reset by someone else).
const STALE_PREPARED = new Set(['0A000', '26000'])

async function query(on: Queryable, s: Statement): Promise<pg.QueryResult> {
  const values = [...s.values]
  if (!on[PREPARES]) return on.query({ text: s.text, values })
  try {
    return await on.query({ name: nameOf(s.text), text: s.text, values })
  } catch (err) {
    if (!STALE_PREPARED.has((err as { code?: string }).code ?? '')) throw err
    names.delete(s.text)
    return on.query({ text: s.text, values })
  }
}

/** The rows a statement returns. */
export async function rows<T>(on: Queryable | Tx, s: Statement): Promise<T[]> {
  if (isPool(on)) return (await query(on, s)).rows as T[]
  return on.$queryRawUnsafe<T[]>(s.text, ...s.values)
}

/** How many rows a statement changed. */
export async function execute(on: Queryable | Tx, s: Statement): Promise<number> {
  if (isPool(on)) return (await query(on, s)).rowCount ?? 0
  return on.$executeRawUnsafe(s.text, ...s.values)
}
