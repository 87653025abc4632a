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
export type Queryable = Pick<pg.Pool, 'query'>

const isPool = (on: Queryable | Tx): on is Queryable => typeof (on as Tx).$queryRawUnsafe !== 'function'

/** The rows a statement returns. */
export async function rows<T>(on: Queryable | Tx, s: Statement): Promise<T[]> {
  if (isPool(on)) return (await on.query({ text: s.text, values: [...s.values] })).rows as T[]
  return on.$queryRawUnsafe<T[]>(s.text, ...s.values)
}

/** How many rows a statement changed. */
export async function execute(on: Queryable | Tx, s: Statement): Promise<number> {
  if (isPool(on)) return (await on.query({ text: s.text, values: [...s.values] })).rowCount ?? 0
  return on.$executeRawUnsafe(s.text, ...s.values)
}
