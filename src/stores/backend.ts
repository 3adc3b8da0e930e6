import type { DocumentStore } from '../core/ports/documents.js';
import type { FlowStateStore } from '../core/ports/flow-states.js';
import type { MailOutboxStore } from '../core/ports/outbox.js';
import type { RateLimitCounter } from '../core/ports/rate-limits.js';
import type { Store } from '../core/ports/store.js';
import type { ReadinessProbe } from '../core/ports/readiness.js';

export interface BackendLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** The file store's journals and the compactions that empty them (see FileDatabase). */
export interface JournalState {
  /** Whether the last compaction failed: a file or the audit log cannot be written; retried every second. */
  compactionFailing: boolean;
  /** Compactions (and their retries) that failed since the start. */
  compactionFailures: number;
  /** Whether a journal reached its bound while compactions fail, so writes are refused (507). */
  journalsFull: boolean;
  /** Whether the audit log's last prune failed (its retention not applied; bounded, see AuditFile). */
  auditPruneFailing: boolean;
  /** The journals' sizes in bytes: db.json's (`data`) and credentials.json's. */
  bytes: { data: number; credentials: number };
}

/**
 * What one store gives the server: every port on the same storage, the work
 * it needs now and then, whether it can serve, and one close. Each store
 * folder has a backend.ts that opens one; stores/index.ts picks which.
 */
export interface Backend {
  store: Store;
  /** The durable mail queue the worker sends from; the store writes a token's mails into it with the token. */
  outbox: MailOutboxStore;
  rateLimits: RateLimitCounter;
  /** PKCE flow states, on the store's storage (PostgreSQL: GoTrue's auth.flow_state). */
  flowStates: FlowStateStore;
  /** Periodic work on the stored data (PostgreSQL: ended sessions, old refresh tokens); run hourly. */
  upkeep(now: Date): Promise<void>;
  /** Whether this instance can serve now (the store answers, migrations applied, folders writable). */
  readiness: ReadinessProbe;
  /** The JSON document the data API serves, when the backend keeps one (the file store's db.json). */
  documents?: DocumentStore;
  /** The file store's journals now, for the metrics; none on PostgreSQL. */
  journals?(): JournalState;
  /** The connection pool's use now (PostgreSQL), for the metrics; none without a pool. */
  connections?(): { total: number; idle: number; waiting: number };
  /** Releases everything the backend holds (locks, connections). */
  close(): Promise<void>;
}
