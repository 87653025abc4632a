// .env.example documents every variable the server reads: each name src/server/config.ts
// reads (directly, or through the plugin's table of numeric settings) appears there, set or as
// a commented example, and the file names nothing the server ignores.
import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { NUMERIC_SETTINGS } from '../src/options.js'

const read = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8')

it('.env.example and src/server/config.ts name the same variables', () => {
  const readBySource = new Set([
    ...[...read('src/server/config.ts').matchAll(/\br\.[a-zA-Z]+\('([A-Z0-9_]+)'/g)].map((m) => m[1]!),
    ...Object.values(NUMERIC_SETTINGS).map((s) => s.env),
  ])
  const documented = new Set([...read('.env.example').matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!))
  expect(readBySource.size).toBeGreaterThan(30)
  expect([...readBySource].filter((n) => !documented.has(n)), 'read by the server, missing from .env.example').toEqual([])
  expect([...documented].filter((n) => !readBySource.has(n)), 'in .env.example, never read').toEqual([])
})
