// Writes client/src/error-codes.ts from the server's ERROR_CATALOGUE (src/errors.ts), so the
// SDK's error types come from the one list the server answers with instead of a copy kept
// in sync by hand. Run by `npm run build:client` (and so by `npm install`) and by
// `npm run typecheck`; test/client/error-codes.test.ts fails when the file is stale.
//
//   tsx scripts/gen-client-errors.ts          write the file (only if its content changed)
//   tsx scripts/gen-client-errors.ts --check  exit 1 if it is missing or stale
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ERROR_CATALOGUE } from '../src/errors.js'

export const ERROR_CODES_FILE = fileURLToPath(new URL('../client/src/error-codes.ts', import.meta.url))

/** The file's whole text for a catalogue: codes in the catalogue's order, with their status. */
export function renderErrorCodes(catalogue: Record<string, { status: number }>): string {
  const codes = Object.entries(catalogue).map(([code, { status }]) => {
    // Codes go into the SDK's source as literals: anything but snake_case would need escaping.
    if (!/^[a-z][a-z0-9_]*$/.test(code)) throw new Error(`error code ${JSON.stringify(code)} is not snake_case`)
    return `  '${code}', // ${status}`
  })
  return [
    '// Generated from src/errors.ts (ERROR_CATALOGUE) by scripts/gen-client-errors.ts: do not edit.',
    '// `npm run build:client` rewrites it.',
    '',
    '/** Every `error` code the server can answer with. */',
    'export const ERROR_CODES = [',
    ...codes,
    '] as const',
    '',
    'export type ErrorCode = (typeof ERROR_CODES)[number]',
    '',
  ].join('\n')
}

function main(): void {
  const text = renderErrorCodes(ERROR_CATALOGUE)
  const current = existsSync(ERROR_CODES_FILE) ? readFileSync(ERROR_CODES_FILE, 'utf8') : null
  if (process.argv.includes('--check')) {
    if (current === text) return
    console.error(`${ERROR_CODES_FILE} is ${current === null ? 'missing' : 'stale'}: run npm run build:client`)
    process.exit(1)
  }
  // Left untouched when unchanged, so tools watching mtimes do not rebuild for nothing.
  if (current !== text) writeFileSync(ERROR_CODES_FILE, text)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main()
