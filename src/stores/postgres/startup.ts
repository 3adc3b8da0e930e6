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
        // A standby (or a database set read-only) answers, and refuses the migrations' writes: "did not
        // answer, start it" sent an operator who gave a replica's URL looking for a server that was up.
        const readOnly = isWriteRefused(cause);
        throw new DatabaseUnreachableError(
          readOnly
            ? `PostgreSQL ${settings.database} refused writes for ${settings.timeoutSeconds} s (${causeOf(error)}): ` +
                'a standby or a read-only database; give restauth the primary (store.url, DATABASE_URL), ' +
                'or wait longer for a failover with store.startupTimeout (RESTAUTH_DB_STARTUP_TIMEOUT)'
            : `PostgreSQL ${settings.database} did not answer within ${settings.timeoutSeconds} s (${causeOf(error)}); ` +
                'start it, or wait longer with store.startupTimeout (RESTAUTH_DB_STARTUP_TIMEOUT)',
          { cause: error },
        );
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
