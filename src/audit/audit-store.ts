// Reads and writes audit_events; a login's row is the exception, written by the statement that
// starts its session (TokenStore.createFamily), so that a login costs no write of its own.
import type { PrismaClient } from '../generated/prisma/client.js'
import type { Position } from './cursor.js'
import type { AuditEvent, StoredAuditEvent } from './events.js'

export class AuditStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** One statement for any number of events; events without a user are not stored. */
  async insert(events: AuditEvent[]): Promise<void> {
    const rows = events.flatMap((e) =>
      e.userId === null
        ? []
        : [
            {
              userId: e.userId,
              familyId: e.familyId ?? null,
              type: e.type,
              reason: e.reason ?? null,
              ip: e.ip ?? null,
              userAgent: e.userAgent ?? null,
              ...(e.createdAt ? { createdAt: e.createdAt } : {}),
            },
          ],
    )
    if (rows.length > 0) await this.prisma.auditEvent.createMany({ data: rows })
  }

  /** A user's events, newest first, strictly after `after` in that order. */
  async listForUser(userId: string, limit: number, after: Position | null): Promise<StoredAuditEvent[]> {
    return this.prisma.auditEvent.findMany({
      where: {
        userId,
        ...(after
          ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit,
      select: { id: true, type: true, familyId: true, reason: true, ip: true, userAgent: true, createdAt: true },
    })
  }

  /** Cleanup, one batch: deletes up to `limit` events older than `retentionDays`. */
  async deleteOlderThan(retentionDays: number, limit: number): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM auth.audit_events WHERE id IN (
        SELECT id FROM auth.audit_events
        WHERE created_at < now() - make_interval(secs => ${retentionDays * 86_400})
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)`
  }
}
