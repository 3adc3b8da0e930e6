import { AuthError } from '../../core/errors.js';
import { OUTAGE_RETRY_AFTER_SECONDS } from '../../core/ports/readiness.js';
import { errorMessageWithoutInput } from '../../lib/quoted-input.js';

/** Node's errors for a server that is not there, or a connection that broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that is going away or not there yet: 57P01 (fast
 * shutdown), 57P02 (crash), 57P03 (starting up or shutting down), 53300 (no
 * connection slot), 57P05 (idle_session_timeout: the pool handed out an idle connection the server
 * had just ended, see isIdleSessionTimeout), 25P03 and 25P04 (the server ended a connection whose
 * transaction idled or lasted too long, see isTransactionEnded), 3D000 (the database does not exist:
 * dropped under a running server until it is restored, or not created yet at a start, which
 * then waits store.startupTimeout for it), and class 08 (connection
 * exceptions).
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '57P05', '25P03', '25P04', '53300', '3D000']);

/** node-postgres and pg-pool say a connection broke with plain Errors, without a code. */
const BROKEN_CONNECTION =
  /^Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|Cannot use a pool after calling end/u;

/** pg-pool's words when a wait for a connection of a full pool outlasted connectionTimeoutMillis. */
const POOL_WAIT_TIMED_OUT = 'timeout exceeded when trying to connect';

/**
 * Every connection of the pool stayed checked out (or being opened) while a request waited
 * store.connectTimeout for one: more requests at once than store.poolMax, each slow (a lock, a slow
 * plan, a saturated server), or connections held elsewhere. The database may well be up: still a
 * 503 to retry (isConnectionFault), but logged as what it is (OutageMonitor.poolExhausted), where
 * it read "PostgreSQL is unavailable", and /ready says so (readiness.ts).
 */
export function isPoolExhausted(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { message?: unknown }).message === POOL_WAIT_TIMED_OUT
  );
}

/**
 * Whether an error says the database cannot be reached now (a restart, an
 * outage, a broken connection), as opposed to a statement it refused: the
 * first is a 503 to retry, the second a bug or a constraint.
 */
export function isConnectionFault(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || /^08/u.test(code)))
    return true;
  if (typeof message === 'string' && BROKEN_CONNECTION.test(message)) return true;
  // Connecting to a name with several addresses (localhost: ::1 and 127.0.0.1) fails with an AggregateError.
  return Array.isArray(errors) && errors.length > 0 && errors.every(isConnectionFault);
}

/** The registry's 503 for a database that cannot be reached, keeping the driver's error as the cause. */
function storeUnavailable(cause: unknown): AuthError {
  return new AuthError('store_unavailable', undefined, {
    retryAfter: OUTAGE_RETRY_AFTER_SECONDS,
    cause,
  });
}

/** Whether an error is a connection fault, as the driver threw it or already translated into the 503. */
export function isStoreUnavailable(error: unknown): boolean {
  return (error instanceof AuthError && error.code === 'store_unavailable') || isConnectionFault(error);
}

/**
 * A statement the server cancelled: 57014 when it ran past statement_timeout (store.queryTimeout, or
 * one a DBA set on the role) or an administrator cancelled it (pg_cancel_backend), 55P03 when it
 * waited for a lock past the lock_timeout a DBA set on the role or database. The connection is fine
 * and nothing of the statement's transaction stays: a 503, to be retried, not a bug of the request.
 */
export function isStatementCancelled(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === '57014' || code === '55P03';
}

/**
 * 40001 (serialization_failure) and 40P01 (deadlock_detected): the server rolled back the statement's
 * transaction for one racing it. restauth's statements are written for READ COMMITTED, where a racing
 * refresh waits for the row and re-reads it; a role or database set to default_transaction_isolation
 * = serializable or repeatable read (a DBA's choice for other applications) makes that wait end in
 * 40001 instead. Nothing of the transaction stays, so it is run again (createPool, inTransaction),
 * which re-reads what the winner wrote, as READ COMMITTED would have; still failing, a 503.
 */
export function isSerializationFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, routine } = error as { code?: unknown; routine?: unknown };
  return (code === '40001' || code === '40P01') && routine !== 'exec_stmt_raise';
}

/**
 * 57P05 (idle_session_timeout): the server ended a connection idle outside a transaction. Only an
 * idle connection of the pool meets it, so it is no outage; a request handed such a connection as the
 * server ended it gets it as its first statement's error (see createPool, which tries again).
 */
export function isIdleSessionTimeout(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '57P05';
}

/**
 * 25P03 (idle_in_transaction_session_timeout) and 25P04 (transaction_timeout, PostgreSQL 17): a DBA's
 * bound on restauth's role or database, met when its event loop, busy with other requests, left a
 * transaction idle between two statements past it. The server ends the connection with a FATAL, which
 * the driver gives to the statement Node had already sent, if any, as that statement's error: a
 * connection lost, nothing of the transaction kept, a 503 (not the 500 of a DatabaseError nobody
 * knew) and the connection destroyed. The database is not down meanwhile, so it is logged at most once
 * a minute, naming the setting, rather than as an outage.
 */
export function isTransactionEnded(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === '25P03' || code === '25P04';
}

/**
 * 0A000 "cached plan must not change result type": a named statement this connection prepared
 * (store.preparedStatements) reads a column whose type was altered since, even benignly (a DBA
 * widening varchar(255) to text). PostgreSQL refuses the statement before running it, and every
 * later run of it on that connection alike: the connection is to be replaced and the statement run
 * again on another, which prepares it anew (createPool, inTransaction), where each pooled
 * connection answered 500 for it until it was closed.
 */
export function isStalePlan(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, routine } = error as { code?: unknown; routine?: unknown };
  return code === '0A000' && routine === 'RevalidateCachedQuery';
}

/**
 * 25006 (read_only_sql_transaction): the server answers but refuses writes. A
 * failover left the connection on a server that is now a standby (hot standby
 * refuses every write so), or an operator turned writes off for maintenance
 * (default_transaction_read_only). An outage of writes, to be retried, not a
 * bug; reads go on. The connection is discarded (withClient; pg-pool's own
 * query discards on any error), so the next one is made to wherever the URL
 * names now: after a failover by DNS or a moved address, the new primary.
 */
export function isWriteRefused(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '25006';
}

/**
 * Class 53 (insufficient resources): the server is short of disk (53100: a data file could not be
 * extended), memory (53200) or a configured limit (53400, 53000). The statement failed whole and
 * nothing was written; once the operator frees space it works again, so it is a 503 to retry, not a
 * bug. 53300 (no connection slot) is a connection fault above.
 */
export function isResourceShortage(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('53');
}

/**
 * Class 28 (invalid authorization: 28P01 a wrong password, 28000 a role that may not log in or a
 * pg_hba.conf rule refusing it): the server refused restauth's login. At a start that is a wrong
 * setting and fails at once (startup.ts). Under a running server it is what a password rotated, a role
 * set NOLOGIN or dropped, or an access rule changed does to every new connection: an outage until an
 * operator mends it (or restarts restauth with the new password), answered 503 and logged once like
 * any other, where each request answered 500 and /ready a 500 of its own. A PL/pgSQL RAISE of the
 * class (the pre-request's 28P01 refusing a token) is a statement's answer, not a login.
 */
export function isLoginRefused(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, routine } = error as { code?: unknown; routine?: unknown };
  return typeof code === 'string' && code.startsWith('28') && routine !== 'exec_stmt_raise';
}

/**
 * 42501 (insufficient_privilege) on one of restauth's own statements: an operator revoked a right it
 * needs (REVOKE INSERT ON auth.users, a schema's USAGE) under a running server. Every request needing
 * it fails alike until it is granted again, so it is an outage to retry (503), not a bug of the
 * request (500). restauth's SQL raises no 42501 of its own; a PL/pgSQL RAISE of it (a function or
 * trigger refusing something on purpose) is a statement's answer and keeps its meaning, as for
 * isLoginRefused.
 */
export function isPrivilegeRefused(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, routine } = error as { code?: unknown; routine?: unknown };
  return code === '42501' && routine !== 'exec_stmt_raise';
}

/**
 * Class 42 (syntax error or access rule violation) on one of restauth's own statements, other than a
 * refused privilege (42501, isPrivilegeRefused) and a syntax error (42601, a bug of restauth's SQL):
 * the schema its migrations made was changed under a running server. A table, column or function
 * dropped or renamed (42P01 undefined_table, 42703 undefined_column, 42883 undefined_function), a
 * column's type altered (42804 datatype_mismatch, 42846 cannot_coerce), a type dropped (42704), a
 * table replaced by a view (42809), a same-named column or function added that makes a name
 * ambiguous (42702, 42725): a DBA's ALTER, another tool's migration. restauth's statements are fixed
 * text and their parameters are typed by the schema, so no request can cause these: every request
 * needing that part fails alike until it is restored, an outage (503), not a bug of the request (500).
 * A PL/pgSQL RAISE of them keeps its meaning, as for isLoginRefused.
 */
export function isSchemaChanged(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, routine } = error as { code?: unknown; routine?: unknown };
  if (typeof code !== 'string' || routine === 'exec_stmt_raise') return false;
  return (code.startsWith('42') && !NOT_SCHEMA_CODES.has(code)) || RETYPED_COLUMN_CODES.has(code);
}

/** 42501 is a refused privilege (its own fault and message); 42601 a syntax error, restauth's own bug. */
const NOT_SCHEMA_CODES = new Set(['42501', '42601']);

/**
 * Class 22 (data exception) as a column's type altered under the server makes restauth's writes
 * raise: the server reads a parameter as the column's new type (22P02 invalid text representation,
 * 22007 invalid datetime format: a timestamp column made an integer, a text one a uuid) or the value
 * no longer fits (22001 string too long for a varchar(n), 22003 a number out of a narrower type's
 * range). restauth's input reaches no typed parameter unchecked (core validates it, and guards each
 * cast: flow-states.ts), so these are the schema's, not the request's. The rest of class 22 stays
 * the request's: characters PostgreSQL cannot store (22021, 22P05) are a 400 (http/errors.ts).
 */
const RETYPED_COLUMN_CODES = new Set(['22P02', '22007', '22001', '22003']);

/**
 * A connection fault, a refused login, a refused privilege, a changed part of the schema, a
 * cancelled statement, a serialization failure, a refused write or a resource shortage becomes the 503;
 * any other error is returned unchanged.
 */
export function asStoreError(error: unknown): unknown {
  return isConnectionFault(error) ||
    isLoginRefused(error) ||
    isPrivilegeRefused(error) ||
    isSchemaChanged(error) ||
    isStatementCancelled(error) ||
    isSerializationFailure(error) ||
    isWriteRefused(error) ||
    isResourceShortage(error)
    ? storeUnavailable(error)
    : error;
}

/**
 * Where a PostgreSQL URL points, for log lines: host, port and database,
 * never the user's password.
 */
export function describeDatabase(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || (parsed.searchParams.get('host') ?? 'localhost');
    const database = decodeURIComponent(parsed.pathname.replace(/^\//u, '')) || '(default database)';
    return `${host}:${parsed.port || '5432'}/${database}`;
  } catch {
    return '(unparsable database URL)';
  }
}

export interface OutageLogger {
  info(message: string): void;
  /** `error`, when given, is logged with the line (its stack and code). */
  warn(message: string, error?: unknown): void;
}

/** The refusals a connection that succeeds does not end, each warned of at most once a minute. */
type RefusalKind =
  | 'write refused'
  | 'short of resources'
  | 'privilege refused'
  | 'schema missing'
  | 'contention'
  | 'transaction ended'
  | 'pool exhausted';

/**
 * How long /ready names a part of the schema by the message of the statement that met it missing,
 * rather than by the catalogue's finding (readiness.ts), while the catalogue finds it missing.
 */
export const SCHEMA_FAULT_SHOWN_MS = 60_000;

/**
 * Logs a database outage once: its first fault with the cause, then, when a
 * connection succeeds again, that it is over. Between the two every request
 * the outage fails answers 503 without a log line of its own: an outage under
 * load would otherwise write one line per request.
 */
export class OutageMonitor {
  private since: number | null = null;
  /** When each kind of refusal was last logged (warnAtMostEveryMinute). */
  private readonly lastWarned = new Map<RefusalKind, number>();
  /** Whether an idle connection ended by idle_session_timeout was logged (see idleSessionEnded). */
  private toldIdleSessionTimeout = false;
  /** The last missing part of the schema a statement met, and when (see schemaMissing). */
  private lastSchemaFault: { message: string; at: number } | null = null;
  /** When a wait for a pooled connection last timed out (see poolExhausted). */
  private lastPoolExhausted: number | null = null;
  /** Errors of connections already logged (see connectionError). */
  private readonly reported = new WeakSet<object>();

  constructor(
    private readonly database: string,
    private readonly logger: OutageLogger,
    // Read through the global Date each time (not Date.now kept at construction): a test that mocks Date moves it.
    private readonly clock: () => number = () => Date.now(),
  ) {}

  /** True between the first fault of an outage and the next successful connection. */
  get down(): boolean {
    return this.since !== null;
  }

  fault(error: unknown): void {
    if (isIdleSessionTimeout(error)) return this.idleSessionEnded(error);
    if (isWriteRefused(error)) return this.writeRefused(error);
    if (isResourceShortage(error)) return this.shortOfResources(error);
    if (isPrivilegeRefused(error)) return this.privilegeRefused(error);
    if (isSchemaChanged(error)) return this.schemaMissing(error);
    if (isStatementCancelled(error) || isSerializationFailure(error)) return this.contended(error);
    if (isTransactionEnded(error)) return this.transactionEnded(error);
    if (isPoolExhausted(error)) return this.poolExhausted();
    if (this.since !== null || !(isConnectionFault(error) || isLoginRefused(error))) return;
    this.since = this.clock();
    this.logger.warn(
      `restauth: PostgreSQL ${this.database} is unavailable (${(error as Error).message || String(error)}); answering 503 until a connection succeeds`,
      error,
    );
  }

  /**
   * A write the server refused as read-only: logged at most once a minute while
   * it lasts. Connections still succeed meanwhile (each refusal discards its
   * own), so "until a connection succeeds" cannot end it as it ends an outage.
   */
  private writeRefused(error: unknown): void {
    this.warnAtMostEveryMinute(
      'write refused',
      `restauth: PostgreSQL ${this.database} refuses writes (${(error as Error).message}): a standby after a failover, or set read-only; writes answer 503, reads go on`,
      error,
    );
  }

  /** A statement the server could not run for want of disk, memory or a limit: as a refused write. */
  private shortOfResources(error: unknown): void {
    this.warnAtMostEveryMinute(
      'short of resources',
      `restauth: PostgreSQL ${this.database} is short of resources (${(error as Error).message}); the requests it refuses answer 503`,
      error,
    );
  }

  /**
   * A statement refused for want of a privilege: as a refused write, connections succeed meanwhile,
   * so it is logged at most once a minute while it lasts.
   */
  private privilegeRefused(error: unknown): void {
    this.warnAtMostEveryMinute(
      'privilege refused',
      `restauth: PostgreSQL ${this.database} refuses restauth's role a privilege it needs (${(error as Error).message}); the requests it refuses answer 503 until it is granted again`,
      error,
    );
  }

  /**
   * A statement that met a missing table, column or function: as a refused privilege, connections
   * succeed meanwhile, so it is logged at most once a minute. Restarting restauth does not mend it:
   * its migrations are recorded as applied and are not run again, so the part is to be restored.
   */
  private schemaMissing(error: unknown): void {
    // A retyped column's class-22 error quotes the request's value (a token, an address).
    const message = errorMessageWithoutInput(error);
    this.lastSchemaFault = { message, at: this.clock() };
    this.warnAtMostEveryMinute(
      'schema missing',
      `restauth: PostgreSQL ${this.database} lacks part of restauth's schema (${message}): dropped, renamed or ` +
        'altered under it; the requests needing it answer 503 until it is restored (rename it back, or restore ' +
        'it from a backup: restarting restauth does not remake it, its migrations are recorded as applied)',
      error,
    );
  }

  /** The last part of the schema a statement met missing or changed (the driver's message), and when. */
  get schemaFault(): { message: string; at: number } | null {
    return this.lastSchemaFault;
  }

  /**
   * A statement cancelled (a timeout on the role, an administrator) or a transaction that lost every
   * rerun to a racing one: the requests it failed answer 503, which said nothing in the log, so an
   * operator saw 503s and no cause. Logged at most once a minute, as a refused write.
   */
  private contended(error: unknown): void {
    this.warnAtMostEveryMinute(
      'contention',
      `restauth: PostgreSQL ${this.database} cancelled or rolled back a statement of restauth's (${(error as Error).message}): ` +
        'a lock held elsewhere past lock_timeout or statement_timeout, an administrator, or transactions racing under ' +
        'serializable isolation; the requests it failed answer 503',
      error,
    );
  }

  /** A connection ended for its transaction's idling or length (isTransactionEnded): as a refused write. */
  private transactionEnded(error: unknown): void {
    this.warnAtMostEveryMinute(
      'transaction ended',
      `restauth: PostgreSQL ${this.database} ended a connection of restauth's in a transaction (${(error as Error).message}): ` +
        'idle_in_transaction_session_timeout or transaction_timeout on its role or database is shorter than a busy ' +
        'server leaves between two statements; the requests it failed answer 503',
      error,
    );
  }

  /**
   * A request's wait for a connection of the full pool timed out (isPoolExhausted): as a refused
   * write, logged at most once a minute and no outage, since connections may succeed meanwhile; a
   * database that does not answer at all is logged as the outage by the connections being opened.
   * Its time is kept for /ready (poolExhaustedAt).
   */
  private poolExhausted(): void {
    this.lastPoolExhausted = this.clock();
    this.warnAtMostEveryMinute(
      'pool exhausted',
      `restauth: every connection of restauth's pool to PostgreSQL ${this.database} stayed in use while a request ` +
        'waited store.connectTimeout for one: requests outrun store.poolMax (slow statements, locks held, a ' +
        'saturated server) or PostgreSQL is slow to accept connections; the requests that waited answer 503',
    );
  }

  /** When a wait for a connection of the full pool last timed out (clock time), or null. */
  get poolExhaustedAt(): number | null {
    return this.lastPoolExhausted;
  }

  private warnAtMostEveryMinute(kind: RefusalKind, message: string, error?: unknown): void {
    const now = this.clock();
    const last = this.lastWarned.get(kind);
    // The time since the last warning is taken either way: after the clock was set back, `now - last`
    // is negative, and read as "less than a minute" it would silence the warning for the whole jump.
    if (last !== undefined && Math.abs(now - last) < 60_000) return;
    this.lastWarned.set(kind, now);
    this.logger.warn(message, error);
  }

  /**
   * An 'error' event of the pool or of one of its connections: a fault is an
   * outage (above); anything else is logged with the error, once (pg-pool
   * emits an idle connection's error on the pool too), never dropped.
   */
  connectionError(error: unknown): void {
    if (isIdleSessionTimeout(error)) return this.idleSessionEnded(error);
    if (isConnectionFault(error)) return this.fault(error);
    if (typeof error === 'object' && error !== null) {
      if (this.reported.has(error)) return;
      this.reported.add(error);
    }
    this.logger.warn(
      `restauth: a PostgreSQL ${this.database} connection failed (${(error as Error).message || String(error)}); it is discarded`,
      error,
    );
  }

  /**
   * The server ended an idle connection of the pool (idle_session_timeout, set by a DBA on the role
   * or database): expected, and harmless, as the pool makes one again when it needs it. Said once, at
   * info, where each such connection logged a warning that it failed (every pooled connection, every
   * idle period, with store.poolMin above 0).
   */
  private idleSessionEnded(error: unknown): void {
    if (this.toldIdleSessionTimeout) return;
    this.toldIdleSessionTimeout = true;
    this.logger.info(
      `restauth: PostgreSQL ${this.database} ends idle connections (${(error as Error).message}: ` +
        'idle_session_timeout); the pool makes new ones when needed',
    );
  }

  connected(): void {
    if (this.since === null) return;
    // A clock set back during the outage would make it last a negative time: say 0 then.
    const seconds = (Math.max(this.clock() - this.since, 0) / 1000).toFixed(1);
    this.since = null;
    // A warning, as the outage's own line is: whoever reads one at level warn must also see it end.
    this.logger.warn(
      `restauth: PostgreSQL ${this.database} is reachable again (unavailable for ${seconds} s)`,
    );
  }
}
