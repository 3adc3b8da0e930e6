import { setTimeout as sleep } from 'node:timers/promises';
import {
  isLoginRefused,
  isSchemaChanged,
  isStoreUnavailable,
  isWriteRefused,
  type OutageLogger,
} from './faults.js';

/** The database did not answer within the start-up timeout: the server does not start. */
export class DatabaseUnreachableError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnreachableError';
  }
}

/** First wait between two attempts; it doubles up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2000;

function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause ?? error;
  return (cause as Error).message || String(cause);
}

/**
 * Runs `attempt` (connect and migrate) until it succeeds, retrying while the
 * database cannot be reached, for up to `timeoutSeconds`: a database and
 * restauth started together (a compose file, a reboot) must not race. The
 * first failure is logged once, naming the database (never its password);
 * any other error (a wrong password, a failed migration) fails at once.
 */
export async function waitForDatabase<T>(
  attempt: () => Promise<T>,
  settings: {
    database: string;
    timeoutSeconds: number;
    logger: OutageLogger;
    clock?: () => number;
  },
): Promise<T> {
  const clock = settings.clock ?? Date.now;
  const deadline = clock() + settings.timeoutSeconds * 1000;
  for (let retry = 0; ; retry++) {
    try {
      const result = await attempt();
      // At the level of the "waiting" line it ends, so that one is never seen without the other.
      if (retry > 0) settings.logger.warn(`restauth: PostgreSQL ${settings.database} answered`);
      return result;
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      // A refused login, or a part of the schema missing, is a 503 under a running server (faults.ts),
      // but at a start a wrong setting or a broken database that waiting does not mend.
      const cause = (error as { cause?: unknown }).cause ?? error;
      if (isLoginRefused(cause) || isSchemaChanged(cause)) throw cause;
      const left = deadline - clock();
      if (left <= 0) {
        throw new DatabaseUnreachableError(gaveUp(settings.database, settings.timeoutSeconds, error), {
          cause: error,
        });
      }
      if (retry === 0) {
        settings.logger.warn(
          `restauth: waiting for PostgreSQL ${settings.database} (${causeOf(error)}); retrying for up to ${settings.timeoutSeconds} s`,
        );
      }
      await sleep(Math.min(FIRST_RETRY_MS * 2 ** retry, MAX_RETRY_MS, left));
    }
  }
}

/** How long to wait longer, said at the end of each start error. */
const WAIT_LONGER = 'wait longer with store.startupTimeout (RESTAUTH_DB_STARTUP_TIMEOUT)';

/**
 * The start error once waiting gave up: what the server answered, and what mends it. "Did not
 * answer, start it" sent an operator looking for a server that was up: a standby refusing the
 * migrations' writes, a server whose every connection slot other clients hold (53300), or a host
 * name that does not resolve (a typo in the URL, a DNS down) each need something else.
 */
function gaveUp(database: string, seconds: number, error: unknown): string {
  const cause = (error as { cause?: unknown }).cause ?? error;
  const said = causeOf(error);
  if (isWriteRefused(cause))
    return (
      `PostgreSQL ${database} refused writes for ${seconds} s (${said}): a standby or a read-only database; ` +
      `give restauth the primary (store.url, DATABASE_URL), or wait longer for a failover with store.startupTimeout ` +
      '(RESTAUTH_DB_STARTUP_TIMEOUT)'
    );
  if (codeOf(cause) === '53300')
    return (
      `PostgreSQL ${database} had no free connection slot for ${seconds} s (${said}): other clients hold ` +
      'all of its max_connections; free some (pg_stat_activity shows whose), raise max_connections, or lower the ' +
      `other clients' pools (restauth's own: store.poolMax), or ${WAIT_LONGER}`
    );
  if (UNRESOLVED.has(codeOf(cause) ?? ''))
    return (
      `PostgreSQL ${database}: its host name did not resolve for ${seconds} s (${said}): check the host in ` +
      `store.url (DATABASE_URL) and the DNS server, or ${WAIT_LONGER}`
    );
  return `PostgreSQL ${database} did not answer within ${seconds} s (${said}); start it, or ${WAIT_LONGER}`;
}

/** getaddrinfo's errors for a name that does not resolve (ENOTFOUND) or a DNS not answering now (EAI_AGAIN). */
const UNRESOLVED = new Set(['ENOTFOUND', 'EAI_AGAIN']);

/** The error's code, or that of every error of an AggregateError (a name with several addresses) when they agree. */
function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, errors } = error as { code?: unknown; errors?: unknown };
  if (typeof code === 'string') return code;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const codes = new Set(errors.map(codeOf));
  return codes.size === 1 ? [...codes][0] : undefined;
}
