// Keyset pagination over (created_at, id), newest first. The cursor is the last row a page
// showed, opaque to clients; anything that does not decode is refused rather than guessed at.
export interface Position {
  createdAt: Date
  id: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function encodeCursor(p: Position): string {
  return Buffer.from(`${p.createdAt.toISOString()}|${p.id}`, 'utf8').toString('base64url')
}

export function decodeCursor(cursor: string): Position | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null
  const [iso, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  if (rest.length > 0 || !iso || !id || !UUID.test(id)) return null
  const createdAt = new Date(iso)
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== iso) return null
  return { createdAt, id }
}
