// What the audit trail records. Every event is a structured log line; events that belong to
// an account (a user id is known) are also rows that user can read with GET /sessions/events.
export const AUDIT_EVENT_TYPES = [
  'registered',
  'login_success',
  'login_failure',
  'refresh',
  'reuse_detected',
  'family_revoked',
  'password_changed',
  'password_change_failure',
  // someone registered an address that already has this account: a mail went to its owner
  'registration_attempted',
  'password_reset',
  'email_verified',
  'email_change_requested',
  'email_changed',
  'email_change_undone',
  // second factors and passkeys (src/mfa/)
  'mfa_enabled',
  'mfa_disabled',
  'mfa_failure',
  'recovery_codes_regenerated',
  'passkey_added',
  'passkey_removed',
  'reauthenticated',
] as const

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number]

export interface AuditEvent {
  type: AuditEventType
  /** null: no account (a login attempt for an address nobody registered): log line only */
  userId: string | null
  familyId?: string | null
  /** why: a revocation's reason, a failure's cause, `replay` for a refresh answered in the window */
  reason?: string | null
  ip?: string | null
  userAgent?: string | null
  /** when it happened; stamped by AuditLog when recorded, not when the row is written */
  createdAt?: Date
}

export interface StoredAuditEvent {
  id: string
  type: string
  familyId: string | null
  reason: string | null
  ip: string | null
  userAgent: string | null
  createdAt: Date
}
