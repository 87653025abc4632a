// The rotation rule, as a pure function of stored state and the database's clock.
//
// - the family's live token            -> rotate: spend it, mint its child
// - the live token's parent, presented within `windowMs` of the child's creation
//                                      -> replay: answer with that same child (two tabs,
//                                         a retry after a lost response)
// - any other token of the family      -> reuse: revoke the family (reason reuse_detected)
// - a token of a revoked family        -> revoked (the family stays revoked, first reason kept)
// - an expired family, or a live token past its idle expiry
//                                      -> expired (not reuse: nothing was stolen). A spent
//                                         token stays evidence of theft whatever its age.
//
// The window is measured from the child's creation, so it never slides and never reopens:
// once the child is itself rotated, the old parent is a grandparent and always reuse.

export interface TokenState {
  id: string
  parentId: string | null
  createdAt: Date
  spentAt: Date | null
  expiresAt: Date
}

export interface FamilyState {
  revokedAt: Date | null
  expiresAt: Date
}

export interface RotationInput {
  presented: TokenState
  /** the family's one unspent token, if any */
  live: TokenState | null
  family: FamilyState
  now: Date
  windowMs: number
}

export type RotationDecision =
  | { kind: 'rotate' }
  | { kind: 'replay'; childId: string }
  | { kind: 'reuse' }
  | { kind: 'revoked' }
  | { kind: 'expired' }

export function decideRotation({ presented, live, family, now, windowMs }: RotationInput): RotationDecision {
  if (family.revokedAt !== null) return { kind: 'revoked' }
  if (now >= family.expiresAt) return { kind: 'expired' }

  if (presented.spentAt === null) {
    return now >= presented.expiresAt ? { kind: 'expired' } : { kind: 'rotate' }
  }

  const isParentOfLive = live !== null && live.parentId === presented.id
  if (isParentOfLive && windowMs > 0 && now.getTime() - live.createdAt.getTime() <= windowMs) {
    return { kind: 'replay', childId: live.id }
  }
  return { kind: 'reuse' }
}

/** A child never outlives its family. */
export function childExpiry(now: Date, ttlMs: number, familyExpiresAt: Date): Date {
  return new Date(Math.min(now.getTime() + ttlMs, familyExpiresAt.getTime()))
}
