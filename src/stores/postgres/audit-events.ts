import type pg from 'pg';
import type { AuditEvent, AuditPage } from '../../core/ports/store.js';
import { AUDIT_COLUMNS, toAuditEvent, type AuditRow } from './store-rows.js';

/** The audit log in restauth's schema (migration 16: GoTrue has no table for it), for PostgresStore. */
export class PostgresAuditEvents {
  constructor(
    private readonly pool: pg.Pool,
    /** restauth.audit_log, quoted. */
    private readonly auditLog: string,
  ) {}

  async recordAuditEvent(event: AuditEvent): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.auditLog} (id, at, action, actor_id, user_id, ip, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [event.id, event.at, event.action, event.actorId, event.userId, event.ip, event.data],
    );
  }

  async listAuditEvents(options: { page: number; perPage: number; userId?: string }): Promise<AuditPage> {
    const offset = (Math.max(options.page, 1) - 1) * options.perPage;
    const userId = options.userId ?? null;
    // Newest first; events of the same instant in insertion order (seq).
    const [page, count] = await Promise.all([
      this.pool.query<AuditRow>(
        `SELECT ${AUDIT_COLUMNS} FROM ${this.auditLog} WHERE $1::text IS NULL OR user_id = $1
         ORDER BY at DESC, seq LIMIT $2 OFFSET $3`,
        [userId, options.perPage, offset],
      ),
      this.pool.query<{ total: number }>(
        `SELECT count(*)::int AS total FROM ${this.auditLog} WHERE $1::text IS NULL OR user_id = $1`,
        [userId],
      ),
    ]);
    return { events: page.rows.map(toAuditEvent), total: count.rows[0]!.total };
  }

  async pruneAuditEvents(before: Date): Promise<number> {
    const result = await this.pool.query(`DELETE FROM ${this.auditLog} WHERE at < $1`, [before]);
    return result.rowCount ?? 0;
  }
}
