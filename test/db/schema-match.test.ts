// prisma/schema.prisma is the source of truth, but the database is built by hand-written SQL
// in prisma/migrations (applied by src/db/migrate.ts, since `prisma migrate` cannot run here).
// This test migrates a fresh database and compares the catalog of schema `auth`, where every
// model lives (@@schema("auth")), with the schema, both ways: everything declared exists with
// the right shape, and nothing undeclared exists there but the migrator's bookkeeping. And since
// public belongs to the host, nothing of ours may be left in it.
//
// Where the DMMF comes from
// -------------------------
// The `prisma-client` generator (Prisma 7) no longer exports `Prisma.dmmf`. The generated
// client only carries a slimmed `runtimeDataModel` (src/generated/prisma/internal/class.ts,
// not exported): model/field names, kinds, types and @map names, but no nullability, @id,
// @unique, defaults, native types (@db.*), indexes or referential actions, which is most of
// what this test needs. `@prisma/internals` (getDMMF) is not installed, and re-parsing
// schema.prisma by hand would be a second, weaker Prisma parser.
// So the test asks the installed Prisma CLI for the real DMMF the way every generator gets
// it: it runs `prisma generate --generator dmmf_dump` on a temporary copy of schema.prisma
// with one extra generator block, whose provider is a ten-line script speaking Prisma's
// generator JSON-RPC protocol that writes `params.dmmf` to a file. That is the complete
// DMMF (isRequired, isId, nativeType, default, relationOnDelete, datamodel.indexes, ...)
// produced by the same Prisma version that generates the client. A separate test checks
// that the generated client in src/generated/prisma was generated from this same schema.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Prisma } from '../../src/generated/prisma/client.js'
import { createTestDatabase } from '../helpers/database.js'

// ---------------------------------------------------------------------------------------
// DMMF
// ---------------------------------------------------------------------------------------

interface DmmfField {
  name: string
  dbName?: string | null
  kind: 'scalar' | 'object' | 'enum' | 'unsupported'
  isList: boolean
  isRequired: boolean
  isUnique: boolean
  isId: boolean
  isUpdatedAt?: boolean
  hasDefaultValue: boolean
  default?: unknown
  type: string
  nativeType?: [string, string[]] | null
  relationName?: string
  relationFromFields?: string[]
  relationToFields?: string[]
  relationOnDelete?: string
  relationOnUpdate?: string
}
interface DmmfModel {
  name: string
  dbName: string | null
  schema?: string | null
  fields: DmmfField[]
}
interface DmmfIndex {
  model: string
  type: 'id' | 'unique' | 'normal' | 'fulltext'
  isDefinedOnField: boolean
  dbName?: string | null
  algorithm?: string
  where?: unknown
  fields: { name: string; sortOrder?: 'asc' | 'desc'; length?: number; operatorClass?: string }[]
}
interface DmmfEnum {
  name: string
  dbName?: string | null
  values: { name: string; dbName?: string | null }[]
}
interface Dmmf {
  datamodel: { models: DmmfModel[]; enums: DmmfEnum[]; indexes: DmmfIndex[] }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SCHEMA_FILE = join(ROOT, 'prisma', 'schema.prisma')

// A generator, as Prisma spawns it: requests arrive as JSON lines on stdin, answers go to
// stderr. `output` in its generator block is where the DMMF is written.
const DUMP_GENERATOR = `
import { writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
const respond = (m) => process.stderr.write(JSON.stringify(m) + '\\n')
createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line)
  if (msg.method === 'getManifest') {
    respond({ jsonrpc: '2.0', id: msg.id, result: { manifest: { prettyName: 'DMMF dump', requiresEngines: [] } } })
  } else if (msg.method === 'generate') {
    writeFileSync(msg.params.generator.output.value, JSON.stringify(msg.params.dmmf))
    respond({ jsonrpc: '2.0', id: msg.id, result: null })
  }
})
`

async function loadDmmf(): Promise<Dmmf> {
  const dir = await mkdtemp(join(tmpdir(), 'schema-match-dmmf-'))
  try {
    const generator = join(dir, 'dump-dmmf.mjs')
    const output = join(dir, 'dmmf.json')
    const schema = join(dir, 'schema.prisma')
    await writeFile(generator, DUMP_GENERATOR)
    await writeFile(
      schema,
      `${await readFile(SCHEMA_FILE, 'utf8')}

generator dmmf_dump {
  provider = ${JSON.stringify(`"${process.execPath}" "${generator}"`)}
  output   = ${JSON.stringify(output)}
}
`,
    )
    const require = createRequire(join(ROOT, 'package.json'))
    const cli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js')
    const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' }
    // `prisma generate` never runs the schema engine but insists on downloading one when none
    // is installed, which fails offline. Pointing the variable at any existing file skips
    // that (the same trick as scripts/prisma-generate.mjs); a user-set value is kept.
    env.PRISMA_SCHEMA_ENGINE_BINARY ??= generator
    // cwd is the temp dir so that prisma.config.ts (and its `schema`) is not picked up.
    await promisify(execFile)(process.execPath, [cli, 'generate', '--schema', schema, '--generator', 'dmmf_dump'], {
      cwd: dir,
      env,
      timeout: 60_000,
    })
    return JSON.parse(await readFile(output, 'utf8')) as Dmmf
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------
// What schema.prisma says the database must contain
// ---------------------------------------------------------------------------------------

type DefaultRule =
  | { kind: 'none' }
  | { kind: 'now' }
  | { kind: 'sequence' }
  | { kind: 'expression' }
  | { kind: 'literal'; text: string }

interface ExpectedColumn {
  table: string
  column: string
  field: string
  type: string
  notNull: boolean
  default: DefaultRule
}
interface ExpectedIndex {
  table: string
  name: string
  kind: 'PRIMARY KEY' | 'UNIQUE' | 'INDEX'
  method: string
  columns: string[]
  descending: boolean[]
}
interface ExpectedForeignKey {
  table: string
  columns: string[]
  refTable: string
  refColumns: string[]
  onDelete: string
  onUpdate: string
}
interface Expected {
  tables: string[]
  columns: ExpectedColumn[]
  indexes: ExpectedIndex[]
  foreignKeys: ExpectedForeignKey[]
  enums: { name: string; values: string[] }[]
}

const PG_IDENTIFIER_MAX = 63

// Prisma's default constraint/index names, truncated the way Prisma does to fit 63 bytes.
function prismaDefaultName(table: string, columns: string[], suffix: string): string {
  const base = columns.length ? `${table}_${columns.join('_')}` : table
  const room = PG_IDENTIFIER_MAX - suffix.length
  return `${base.length > room ? base.slice(0, room) : base}${suffix}`
}

function quoteIdentIfNeeded(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`
}

// What format_type() reports for a column Prisma creates from this field on PostgreSQL.
function expectedPgType(field: DmmfField, enums: DmmfEnum[]): string {
  const base = (() => {
    if (field.kind === 'enum') {
      const e = enums.find((x) => x.name === field.type)
      return quoteIdentIfNeeded(e?.dbName ?? field.type)
    }
    if (field.nativeType) {
      const [name, args] = field.nativeType
      const a = args.join(',')
      const p = a ? `(${a})` : ''
      switch (name) {
        case 'Text': return 'text'
        case 'Char': return `character${a ? `(${a})` : '(1)'}`
        case 'VarChar': return `character varying${p}`
        case 'Uuid': return 'uuid'
        case 'Xml': return 'xml'
        case 'Inet': return 'inet'
        case 'Citext': return 'citext'
        case 'Bit': return `bit${a ? `(${a})` : '(1)'}`
        case 'VarBit': return `bit varying${p}`
        case 'Boolean': return 'boolean'
        case 'SmallInt': return 'smallint'
        case 'Integer': return 'integer'
        case 'BigInt': return 'bigint'
        case 'Oid': return 'oid'
        case 'Real': return 'real'
        case 'DoublePrecision': return 'double precision'
        case 'Decimal': return `numeric${p}`
        case 'Money': return 'money'
        case 'Date': return 'date'
        case 'Timestamp': return `timestamp${p} without time zone`
        case 'Timestamptz': return `timestamp${p} with time zone`
        case 'Time': return `time${p} without time zone`
        case 'Timetz': return `time${p} with time zone`
        case 'Json': return 'json'
        case 'JsonB': return 'jsonb'
        case 'ByteA': return 'bytea'
      }
      throw new Error(`schema-match: no PostgreSQL type known for @db.${name} (${field.name}); extend expectedPgType()`)
    }
    switch (field.type) {
      case 'String': return 'text'
      case 'Boolean': return 'boolean'
      case 'Int': return 'integer'
      case 'BigInt': return 'bigint'
      case 'Float': return 'double precision'
      case 'Decimal': return 'numeric(65,30)'
      case 'DateTime': return 'timestamp(3) without time zone'
      case 'Json': return 'jsonb'
      case 'Bytes': return 'bytea'
    }
    throw new Error(`schema-match: no PostgreSQL type known for ${field.type} (${field.name}); extend expectedPgType()`)
  })()
  return field.isList ? `${base}[]` : base
}

// Which DB-level default Prisma creates for @default(...). uuid()/cuid()/nanoid()/ulid() are
// filled in by the client, so Prisma creates *no* column default for them (nor for @updatedAt).
function defaultRule(field: DmmfField): DefaultRule {
  const d = field.default
  if (d === undefined || d === null) return { kind: 'none' }
  if (typeof d === 'object' && !Array.isArray(d) && 'name' in d) {
    const name = (d as { name: string }).name
    switch (name) {
      case 'now': return { kind: 'now' }
      case 'autoincrement': return { kind: 'sequence' }
      case 'dbgenerated': return { kind: 'expression' }
      case 'uuid':
      case 'cuid':
      case 'nanoid':
      case 'ulid': return { kind: 'none' }
    }
    throw new Error(`schema-match: unknown @default(${name}()) on ${field.name}; extend defaultRule()`)
  }
  if (Array.isArray(d)) return { kind: 'expression' }
  return { kind: 'literal', text: String(d) }
}

const REFERENTIAL_ACTION: Record<string, string> = {
  Cascade: 'CASCADE',
  Restrict: 'RESTRICT',
  NoAction: 'NO ACTION',
  SetNull: 'SET NULL',
  SetDefault: 'SET DEFAULT',
}

function expectedFromDmmf(dmmf: Dmmf): Expected {
  const { models, enums, indexes } = dmmf.datamodel
  const tableOf = (m: DmmfModel) => m.dbName ?? m.name
  const modelNamed = (name: string) => {
    const m = models.find((x) => x.name === name)
    if (!m) throw new Error(`schema-match: DMMF has no model ${name}`)
    return m
  }
  const columnOf = (m: DmmfModel, fieldName: string) => {
    const f = m.fields.find((x) => x.name === fieldName)
    if (!f) throw new Error(`schema-match: DMMF model ${m.name} has no field ${fieldName}`)
    return f.dbName ?? f.name
  }

  const out: Expected = { tables: [], columns: [], indexes: [], foreignKeys: [], enums: [] }
  for (const m of models) {
    // One schema is read from the catalog; a model elsewhere would be reported missing, for
    // the wrong reason.
    if (m.schema !== SCHEMA) throw new Error(`schema-match: model ${m.name} is in schema ${m.schema ?? '(none)'}; only "${SCHEMA}" is checked`)
    const table = tableOf(m)
    out.tables.push(table)
    for (const f of m.fields) {
      if (f.kind === 'object') continue
      if (f.kind === 'unsupported') throw new Error(`schema-match: Unsupported() field ${m.name}.${f.name} is not handled`)
      out.columns.push({
        table,
        column: f.dbName ?? f.name,
        field: `${m.name}.${f.name}`,
        type: expectedPgType(f, enums),
        notNull: f.isRequired,
        default: defaultRule(f),
      })
    }
    for (const f of m.fields) {
      if (f.kind !== 'object' || !f.relationFromFields?.length) continue
      const target = modelNamed(f.type)
      const fromFields = f.relationFromFields.map((n) => m.fields.find((x) => x.name === n)!)
      // Prisma's defaults: onDelete Restrict for a required relation, SetNull for an optional
      // one; onUpdate Cascade.
      const onDelete = f.relationOnDelete ?? (fromFields.some((x) => x.isRequired) ? 'Restrict' : 'SetNull')
      const onUpdate = f.relationOnUpdate ?? 'Cascade'
      out.foreignKeys.push({
        table,
        columns: f.relationFromFields.map((n) => columnOf(m, n)),
        refTable: tableOf(target),
        refColumns: (f.relationToFields ?? []).map((n) => columnOf(target, n)),
        onDelete: REFERENTIAL_ACTION[onDelete] ?? onDelete,
        onUpdate: REFERENTIAL_ACTION[onUpdate] ?? onUpdate,
      })
    }
  }
  // datamodel.indexes lists @id/@@id, @unique/@@unique and @@index alike.
  for (const ix of indexes) {
    const m = modelNamed(ix.model)
    const table = tableOf(m)
    const columns = ix.fields.map((f) => columnOf(m, f.name))
    if (ix.type === 'fulltext') throw new Error(`schema-match: @@fulltext on ${m.name} is not supported on PostgreSQL`)
    if (ix.where !== undefined) throw new Error(`schema-match: partial index on ${m.name} is not handled; extend the test`)
    if (ix.fields.some((f) => f.length !== undefined || f.operatorClass !== undefined)) {
      throw new Error(`schema-match: index length/operator class on ${m.name} is not handled; extend the test`)
    }
    const kind = ix.type === 'id' ? 'PRIMARY KEY' : ix.type === 'unique' ? 'UNIQUE' : 'INDEX'
    const suffix = ix.type === 'id' ? '_pkey' : ix.type === 'unique' ? '_key' : '_idx'
    out.indexes.push({
      table,
      // A primary key's default name has no column part.
      name: ix.dbName ?? prismaDefaultName(table, ix.type === 'id' ? [] : columns, suffix),
      kind,
      method: (ix.algorithm ?? 'BTree').toLowerCase(),
      columns,
      descending: ix.fields.map((f) => f.sortOrder === 'desc'),
    })
  }
  for (const e of enums) {
    out.enums.push({ name: e.dbName ?? e.name, values: e.values.map((v) => v.dbName ?? v.name) })
  }
  return out
}

// ---------------------------------------------------------------------------------------
// What the database actually contains (one schema)
// ---------------------------------------------------------------------------------------

interface Catalog {
  relations: { name: string; kind: string }[]
  columns: { table_name: string; column_name: string; type: string; not_null: boolean; default_expr: string | null }[]
  indexes: {
    table_name: string
    index_name: string
    is_unique: boolean
    is_primary: boolean
    method: string
    key_count: number
    att_count: number
    predicate: string | null
    columns: (string | null)[]
    descending: boolean[]
  }[]
  foreignKeys: {
    name: string
    table_name: string
    ref_table: string
    columns: string[]
    ref_columns: string[]
    on_delete: string
    on_update: string
  }[]
  enums: { name: string; values: string[] }[]
}

const BOOKKEEPING_TABLE = '_prisma_migrations'
const SCHEMA = 'auth'

async function readCatalog(client: pg.ClientBase, schema = SCHEMA): Promise<Catalog> {
  const relations = await client.query(
    `SELECT c.relname AS name,
            CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                           WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS kind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      ORDER BY c.relname`,
    [schema],
  )
  const columns = await client.query(
    `SELECT c.relname AS table_name, a.attname AS column_name,
            format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            COALESCE(pg_get_expr(d.adbin, d.adrelid),
                     CASE WHEN a.attidentity <> '' THEN 'GENERATED AS IDENTITY' END) AS default_expr
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    [schema],
  )
  const indexes = await client.query(
    `SELECT t.relname AS table_name, i.relname AS index_name, x.indisunique AS is_unique,
            x.indisprimary AS is_primary, am.amname AS method, x.indnkeyatts AS key_count,
            x.indnatts AS att_count, pg_get_expr(x.indpred, x.indrelid) AS predicate,
            ARRAY(SELECT a.attname::text
                    FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                    LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS columns,
            ARRAY(SELECT (k.opt & 1) = 1
                    FROM unnest(x.indoption::int2[]) WITH ORDINALITY AS k(opt, ord)
                   ORDER BY k.ord) AS descending
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_am am ON am.oid = i.relam
      WHERE n.nspname = $1
      ORDER BY t.relname, i.relname`,
    [schema],
  )
  const foreignKeys = await client.query(
    // A referenced table outside the schema keeps its schema name, so it cannot pass for ours.
    `SELECT con.conname AS name, t.relname AS table_name,
            CASE WHEN rt.relnamespace = n.oid THEN rt.relname::text ELSE format('%I.%I', rn.nspname, rt.relname) END AS ref_table,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
            ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS ref_columns,
            CASE con.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                                 WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_delete,
            CASE con.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                                 WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_update
       FROM pg_constraint con
       JOIN pg_class t ON t.oid = con.conrelid
       JOIN pg_class rt ON rt.oid = con.confrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_namespace rn ON rn.oid = rt.relnamespace
      WHERE con.contype = 'f' AND n.nspname = $1
      ORDER BY t.relname, con.conname`,
    [schema],
  )
  const enums = await client.query(
    `SELECT t.typname::text AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
       FROM pg_type t
       JOIN pg_enum e ON e.enumtypid = t.oid
       JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = $1
      GROUP BY t.typname
      ORDER BY t.typname`,
    [schema],
  )
  return {
    relations: relations.rows,
    columns: columns.rows,
    indexes: indexes.rows,
    foreignKeys: foreignKeys.rows,
    enums: enums.rows,
  }
}

// ---------------------------------------------------------------------------------------
// Comparison: each returns human-readable problems; [] means the database matches.
// ---------------------------------------------------------------------------------------

function tableProblems(exp: Expected, cat: Catalog): string[] {
  const problems: string[] = []
  for (const t of exp.tables) {
    const rel = cat.relations.find((r) => r.name === t)
    if (!rel) problems.push(`missing table "${t}"`)
    else if (rel.kind !== 'table') problems.push(`"${t}" is a ${rel.kind}, expected a table`)
  }
  for (const r of cat.relations) {
    if (r.name !== BOOKKEEPING_TABLE && !exp.tables.includes(r.name)) {
      problems.push(`undeclared ${r.kind} "${r.name}" (not a model in schema.prisma)`)
    }
  }
  return problems
}

function defaultProblem(c: ExpectedColumn, actual: string | null): string | null {
  const where = `${c.table}.${c.column} (${c.field})`
  const rule = c.default
  switch (rule.kind) {
    case 'none':
      return actual === null ? null : `${where}: has DEFAULT ${actual}, schema.prisma declares no database default`
    case 'now':
      return actual !== null && /^(CURRENT_TIMESTAMP|now\(\))$/i.test(actual)
        ? null
        : `${where}: DEFAULT is ${actual ?? 'missing'}, expected CURRENT_TIMESTAMP (@default(now()))`
    case 'sequence':
      return actual !== null && (/^nextval\(/.test(actual) || actual === 'GENERATED AS IDENTITY')
        ? null
        : `${where}: DEFAULT is ${actual ?? 'missing'}, expected a sequence (@default(autoincrement()))`
    case 'expression':
      return actual !== null ? null : `${where}: DEFAULT is missing, schema.prisma declares a database default`
    case 'literal': {
      // pg renders literals as e.g. 'abc'::text, 0, false, 'VALUE'::"Enum".
      const ok =
        actual !== null &&
        (actual === rule.text || actual.startsWith(`'${rule.text.replaceAll("'", "''")}'::`) || actual === `'${rule.text}'`)
      return ok ? null : `${where}: DEFAULT is ${actual ?? 'missing'}, expected ${rule.text}`
    }
  }
}

function columnProblems(exp: Expected, cat: Catalog): string[] {
  const problems: string[] = []
  for (const c of exp.columns) {
    const actual = cat.columns.find((x) => x.table_name === c.table && x.column_name === c.column)
    if (!actual) {
      if (cat.relations.some((r) => r.name === c.table)) problems.push(`missing column ${c.table}.${c.column} (${c.field})`)
      continue
    }
    if (actual.type !== c.type) {
      problems.push(`${c.table}.${c.column} (${c.field}): type ${actual.type}, expected ${c.type}`)
    }
    if (actual.not_null !== c.notNull) {
      problems.push(
        `${c.table}.${c.column} (${c.field}): ${actual.not_null ? 'NOT NULL' : 'nullable'}, expected ${c.notNull ? 'NOT NULL' : 'nullable'}`,
      )
    }
    const d = defaultProblem(c, actual.default_expr)
    if (d) problems.push(d)
  }
  for (const a of cat.columns) {
    if (!exp.tables.includes(a.table_name)) continue // undeclared tables are reported by tableProblems
    if (!exp.columns.some((c) => c.table === a.table_name && c.column === a.column_name)) {
      problems.push(`undeclared column ${a.table_name}.${a.column_name} (${a.type})`)
    }
  }
  return problems
}

function describeIndex(i: {
  table: string
  name: string
  kind: string
  method: string
  columns: (string | null)[]
  descending: boolean[]
  extra?: string
}): string {
  const cols = i.columns.map((c, n) => `${c ?? '<expression>'}${i.descending[n] ? ' DESC' : ''}`).join(', ')
  return `${i.kind} "${i.name}" ON ${i.table} USING ${i.method} (${cols})${i.extra ?? ''}`
}

function indexProblems(exp: Expected, cat: Catalog): string[] {
  const expected = new Set(exp.indexes.map((i) => describeIndex(i)))
  const actual = new Set(
    cat.indexes
      .filter((i) => i.table_name !== BOOKKEEPING_TABLE)
      .map((i) =>
        describeIndex({
          table: i.table_name,
          name: i.index_name,
          kind: i.is_primary ? 'PRIMARY KEY' : i.is_unique ? 'UNIQUE' : 'INDEX',
          method: i.method,
          columns: i.columns.slice(0, i.key_count),
          descending: i.descending,
          extra:
            (i.att_count > i.key_count ? ` INCLUDE (${i.columns.slice(i.key_count).join(', ')})` : '') +
            (i.predicate ? ` WHERE ${i.predicate}` : ''),
        }),
      ),
  )
  return [
    ...[...expected].filter((d) => !actual.has(d)).map((d) => `missing ${d}`),
    ...[...actual].filter((d) => !expected.has(d)).map((d) => `undeclared ${d}`),
  ]
}

function foreignKeyProblems(exp: Expected, cat: Catalog): string[] {
  // Foreign-key *names* are not compared: the DMMF does not carry @relation(map: ...).
  const describe = (f: ExpectedForeignKey) =>
    `FOREIGN KEY ${f.table}(${f.columns.join(', ')}) REFERENCES ${f.refTable}(${f.refColumns.join(', ')}) ON DELETE ${f.onDelete} ON UPDATE ${f.onUpdate}`
  const expected = new Set(exp.foreignKeys.map(describe))
  const actual = new Map(
    cat.foreignKeys.map((f) => [
      describe({
        table: f.table_name,
        columns: f.columns,
        refTable: f.ref_table,
        refColumns: f.ref_columns,
        onDelete: f.on_delete,
        onUpdate: f.on_update,
      }),
      f.name,
    ]),
  )
  return [
    ...[...expected].filter((d) => !actual.has(d)).map((d) => `missing ${d}`),
    ...[...actual].filter(([d]) => !expected.has(d)).map(([d, name]) => `undeclared ${d} ("${name}")`),
  ]
}

function enumProblems(exp: Expected, cat: Catalog): string[] {
  const problems: string[] = []
  for (const e of exp.enums) {
    const actual = cat.enums.find((x) => x.name === e.name)
    if (!actual) problems.push(`missing enum type "${e.name}"`)
    else if (actual.values.join(',') !== e.values.join(',')) {
      problems.push(`enum "${e.name}" has values (${actual.values.join(', ')}), expected (${e.values.join(', ')})`)
    }
  }
  for (const a of cat.enums) {
    if (!exp.enums.some((e) => e.name === a.name)) problems.push(`undeclared enum type "${a.name}"`)
  }
  return problems
}

// public is the host's schema: whatever of ours is found there (a table the move left
// behind, bookkeeping written to the wrong place) is reported. The test database has no host,
// so anything at all in public is a leftover.
function publicLeftovers(pub: Catalog): string[] {
  return [
    ...pub.relations.map((r) => `left in public: ${r.kind} "${r.name}"`),
    ...pub.indexes.map((i) => `left in public: index "${i.index_name}" ON ${i.table_name}`),
    ...pub.enums.map((e) => `left in public: enum type "${e.name}"`),
  ]
}

function allProblems(exp: Expected, cat: Catalog): string[] {
  return [
    ...tableProblems(exp, cat),
    ...columnProblems(exp, cat),
    ...indexProblems(exp, cat),
    ...foreignKeyProblems(exp, cat),
    ...enumProblems(exp, cat),
  ]
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

let dmmf: Dmmf
let expected: Expected
let db: { url: string; drop(): Promise<void> }
let client: pg.Client
let catalog: Catalog
let publicCatalog: Catalog

beforeAll(async () => {
  const [loaded, created] = await Promise.all([loadDmmf(), createTestDatabase()])
  dmmf = loaded
  db = created
  expected = expectedFromDmmf(dmmf)
  // search_path auth: format_type() names a type without its schema only when the type is
  // visible, so an enum column reads as schema.prisma names it, and one of another schema's
  // types shows up qualified. The drift statements below qualify every name themselves.
  client = new pg.Client({ connectionString: db.url, options: `-c search_path=${SCHEMA}` })
  await client.connect()
  catalog = await readCatalog(client)
  publicCatalog = await readCatalog(client, 'public')
})

afterAll(async () => {
  await client?.end()
  await db?.drop()
})

describe('migrated database matches prisma/schema.prisma', () => {
  it('the DMMF is complete enough to check against (models, native types, indexes)', () => {
    expect(dmmf.datamodel.models.length).toBeGreaterThan(0)
    expect(dmmf.datamodel.indexes.length).toBeGreaterThan(0)
    const scalar = dmmf.datamodel.models.flatMap((m) => m.fields).filter((f) => f.kind === 'scalar')
    expect(scalar.every((f) => typeof f.isRequired === 'boolean' && 'nativeType' in f)).toBe(true)
  })

  it('the generated client in src/generated/prisma was generated from this schema.prisma', () => {
    const models = dmmf.datamodel.models
    expect(Object.values(Prisma.ModelName).sort()).toEqual(models.map((m) => m.name).sort())
    const namespace = Prisma as unknown as Record<string, Record<string, string> | undefined>
    for (const m of models) {
      const scalars = m.fields.filter((f) => f.kind === 'scalar' || f.kind === 'enum').map((f) => f.name)
      expect(Object.values(namespace[`${m.name}ScalarFieldEnum`] ?? {}), m.name).toEqual(scalars)
    }
  })

  it('every model has its table, and there is no table or view the schema does not declare', () => {
    expect(tableProblems(expected, catalog)).toEqual([])
  })

  it('every scalar field has its column with the right type, nullability and default, and no column is undeclared', () => {
    expect(columnProblems(expected, catalog)).toEqual([])
  })

  it('@id, @unique/@@unique and @@index match the primary keys and indexes exactly, with none undeclared', () => {
    expect(indexProblems(expected, catalog)).toEqual([])
  })

  it('every relation has its foreign key with the right columns and referential actions, and no other foreign key exists', () => {
    expect(foreignKeyProblems(expected, catalog)).toEqual([])
  })

  it('enums match (and no undeclared enum type exists)', () => {
    expect(enumProblems(expected, catalog)).toEqual([])
  })

  it('every model is declared in schema auth, and the migrator keeps its bookkeeping there', () => {
    expect(new Set(dmmf.datamodel.models.map((m) => m.schema))).toEqual(new Set([SCHEMA]))
    expect(catalog.relations).toContainEqual({ name: BOOKKEEPING_TABLE, kind: 'table' })
  })

  it('nothing of ours is left in public: no table, index, enum or bookkeeping', () => {
    expect(publicLeftovers(publicCatalog)).toEqual([])
  })
})

// The checks above would pass vacuously if they compared nothing. Here the migrated database
// is drifted one way at a time (inside a transaction that is rolled back), picking targets
// from the DMMF, and each drift must be reported. Only problems the drift *adds* are compared,
// so a real mismatch in the migrations fails the tests above, not every one of these.
describe('the comparison detects drift', () => {
  async function problemsAfter(sql: string): Promise<string[]> {
    const baseline = new Set([...allProblems(expected, catalog), ...publicLeftovers(publicCatalog)])
    await client.query('BEGIN')
    try {
      await client.query(sql)
      const problems = [...allProblems(expected, await readCatalog(client)), ...publicLeftovers(await readCatalog(client, 'public'))]
      return problems.filter((p) => !baseline.has(p))
    } finally {
      await client.query('ROLLBACK')
    }
  }
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`
  /** a table or index of ours, by its qualified name */
  const t = (s: string) => `${SCHEMA}.${q(s)}`

  it('sanity: the undrifted database has no problems', () => {
    expect(allProblems(expected, catalog)).toEqual([])
  })

  it('a dropped index', async () => {
    const ix = expected.indexes.find((i) => i.kind === 'INDEX') ?? expected.indexes.find((i) => i.kind === 'UNIQUE')!
    expect(await problemsAfter(`DROP INDEX ${t(ix.name)}`)).toEqual([`missing ${describeIndex(ix)}`])
  })

  it('a unique index turned into a plain one', async () => {
    const ix = expected.indexes.find((i) => i.kind === 'UNIQUE')!
    const problems = await problemsAfter(
      `DROP INDEX ${t(ix.name)}; CREATE INDEX ${q(ix.name)} ON ${t(ix.table)} (${ix.columns.map(q).join(', ')})`,
    )
    expect(problems).toContain(`missing ${describeIndex(ix)}`)
    expect(problems).toContain(`undeclared ${describeIndex({ ...ix, kind: 'INDEX' })}`)
  })

  it('a required column made nullable', async () => {
    const pkColumns = new Set(expected.indexes.filter((i) => i.kind === 'PRIMARY KEY').flatMap((i) => i.columns.map((c) => `${i.table}.${c}`)))
    const col = expected.columns.find((c) => c.notNull && !pkColumns.has(`${c.table}.${c.column}`))!
    const problems = await problemsAfter(`ALTER TABLE ${t(col.table)} ALTER COLUMN ${q(col.column)} DROP NOT NULL`)
    expect(problems).toEqual([`${col.table}.${col.column} (${col.field}): nullable, expected NOT NULL`])
  })

  it('a changed column type', async () => {
    const col = expected.columns.find((c) => c.type === 'text')!
    const problems = await problemsAfter(`ALTER TABLE ${t(col.table)} ALTER COLUMN ${q(col.column)} TYPE varchar(500)`)
    expect(problems).toEqual([`${col.table}.${col.column} (${col.field}): type character varying(500), expected text`])
  })

  it('a dropped or an added default', async () => {
    const withDefault = expected.columns.find((c) => c.default.kind === 'now')!
    expect(await problemsAfter(`ALTER TABLE ${t(withDefault.table)} ALTER COLUMN ${q(withDefault.column)} DROP DEFAULT`)).toEqual([
      `${withDefault.table}.${withDefault.column} (${withDefault.field}): DEFAULT is missing, expected CURRENT_TIMESTAMP (@default(now()))`,
    ])
    const without = expected.columns.find((c) => c.default.kind === 'none' && c.type === 'text')!
    const problems = await problemsAfter(`ALTER TABLE ${t(without.table)} ALTER COLUMN ${q(without.column)} SET DEFAULT 'x'`)
    expect(problems).toEqual([
      `${without.table}.${without.column} (${without.field}): has DEFAULT 'x'::text, schema.prisma declares no database default`,
    ])
  })

  it('a foreign key dropped, or recreated with a different ON DELETE', async () => {
    const fk = expected.foreignKeys[0]!
    const actual = catalog.foreignKeys.find((f) => f.table_name === fk.table && f.columns.join() === fk.columns.join())!
    const drop = `ALTER TABLE ${t(fk.table)} DROP CONSTRAINT ${q(actual.name)}`
    expect(await problemsAfter(drop)).toHaveLength(1)
    const other = fk.onDelete === 'CASCADE' ? 'RESTRICT' : 'CASCADE'
    const problems = await problemsAfter(
      `${drop}; ALTER TABLE ${t(fk.table)} ADD CONSTRAINT ${q(actual.name)} FOREIGN KEY (${fk.columns.map(q).join(', ')})
         REFERENCES ${t(fk.refTable)} (${fk.refColumns.map(q).join(', ')}) ON DELETE ${other} ON UPDATE ${fk.onUpdate}`,
    )
    expect(problems).toHaveLength(2)
    expect(problems[0]).toMatch(new RegExp(`^missing FOREIGN KEY .* ON DELETE ${fk.onDelete} `))
    expect(problems[1]).toMatch(new RegExp(`^undeclared FOREIGN KEY .* ON DELETE ${other} `))
  })

  it('an undeclared table, column and index', async () => {
    const table = expected.tables[0]!
    const problems = await problemsAfter(
      `CREATE TABLE ${t('stray_table')} ("id" integer);
       ALTER TABLE ${t(table)} ADD COLUMN "stray_column" text;
       CREATE INDEX "stray_index" ON ${t(table)} ("stray_column")`,
    )
    expect(problems).toEqual([
      'undeclared table "stray_table" (not a model in schema.prisma)',
      `undeclared column ${table}.stray_column (text)`,
      `undeclared INDEX "stray_index" ON ${table} USING btree (stray_column)`,
    ])
  })

  it('a table of ours, or the bookkeeping, left in public', async () => {
    const table = expected.tables[0]!
    const problems = await problemsAfter(
      `CREATE TABLE public.${q(table)} ("id" integer); CREATE TABLE public.${q(BOOKKEEPING_TABLE)} ("id" varchar(36) PRIMARY KEY)`,
    )
    expect(problems).toEqual([
      `left in public: table "${BOOKKEEPING_TABLE}"`,
      `left in public: table "${table}"`,
      `left in public: index "${BOOKKEEPING_TABLE}_pkey" ON ${BOOKKEEPING_TABLE}`,
    ])
  })

  it('a foreign key that references a same-named table in public instead of ours', async () => {
    const fk = expected.foreignKeys.find((f) => f.columns.length === 1)!
    const actual = catalog.foreignKeys.find((f) => f.table_name === fk.table && f.columns.join() === fk.columns.join())!
    const refType = expected.columns.find((c) => c.table === fk.refTable && c.column === fk.refColumns[0])!.type
    const problems = await problemsAfter(
      `CREATE TABLE public.${q(fk.refTable)} (${q(fk.refColumns[0]!)} ${refType} PRIMARY KEY);
       ALTER TABLE ${t(fk.table)} DROP CONSTRAINT ${q(actual.name)};
       ALTER TABLE ${t(fk.table)} ADD CONSTRAINT ${q(actual.name)} FOREIGN KEY (${q(fk.columns[0]!)})
         REFERENCES public.${q(fk.refTable)} (${q(fk.refColumns[0]!)}) ON DELETE ${fk.onDelete} ON UPDATE ${fk.onUpdate} NOT VALID`,
    )
    expect(problems).toContain(`undeclared FOREIGN KEY ${fk.table}(${fk.columns[0]}) REFERENCES public.${fk.refTable}(${fk.refColumns[0]}) ON DELETE ${fk.onDelete} ON UPDATE ${fk.onUpdate} ("${actual.name}")`)
    expect(problems.filter((p) => p.startsWith('missing FOREIGN KEY'))).toHaveLength(1)
  })
})
