import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { lockWaiters } from '../support/lock-waiters.js';
import {
  assertUnavailable,
  signedUpUsers,
  tokenGrants,
  useFaultApp,
  type FaultAnswer,
} from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';
import { served } from '../support/restauth-short-bounds.js';

/** Refreshes and sign-ins at once: batched together, several to a statement. */
const CONCURRENT = 6;

/** How long pg_terminate_backend waits for a backend to have gone (it returns as soon as it has). */
const TERMINATION_BOUND_MS = 60_000;

/**
 * Backends killed mid-batch: refreshes and sign-ins wait in PostgreSQL (a DBA's lock on the token
 * table holds their batched statements), and a DBA ends the waiting backends with
 * pg_terminate_backend. Each request must get a clear 503 with Retry-After (not a 500), none may
 * have spent its token (the statement never committed), and once the lock is gone every one
 * succeeds with the same token, the sessions living on. No reuse grace: a retry of a token spent
 * by the killed statement would be refused.
 */
describe(
  'backends terminated mid-batch (PostgreSQL)',
  { skip: realServerOnly() ?? false, timeout: 120_000 },
  () => {
    const t = useFaultApp({ config: () => ({ sessions: { reuseGrace: 0 } }) });

    const { signIn, refresh } = tokenGrants(t);

    /**
     * Locks the token table, lets the requests wait on it, ends the waiting backends; the answers.
     * The DBA's client polls from inside its transaction (lockWaiters clears its snapshot each time),
     * and its last poll is stopped before the ROLLBACK: nothing of it runs on beside what comes next.
     */
    const terminatedWhileWaiting = async (dba: pg.Client, requests: () => Array<Promise<FaultAnswer>>) => {
      const lastPoll = new AbortController();
      await dba.query('BEGIN');
      try {
        // Reads go on; every write of a token (a rotation, a sign-in's new session) waits.
        await dba.query('LOCK TABLE auth.refresh_tokens IN SHARE ROW EXCLUSIVE MODE');
        const answers = Promise.all(requests());
        const waiting = await lockWaiters(dba, 1);
        // Each backend has gone when its pg_terminate_backend returns: a lock waiter seen after is new.
        const { rows } = await dba.query<{ ended: boolean }>(
          'SELECT pg_terminate_backend(pid, $2) AS ended FROM unnest($1::int[]) AS pid',
          [waiting, TERMINATION_BOUND_MS],
        );
        assert.ok(
          rows.every((row) => row.ended),
          'the waiting backends were ended',
        );
        // Requests that got to wait again meanwhile (on a new connection) are let go by the ROLLBACK.
        const settled = await Promise.race([
          answers,
          lockWaiters(dba, 1, { signal: lastPoll.signal }).then(() => null),
        ]).finally(() => lastPoll.abort());
        await dba.query('ROLLBACK');
        return settled ?? (await answers);
      } catch (error) {
        lastPoll.abort();
        await dba.query('ROLLBACK');
        throw error;
      }
    };

    it('each waiting refresh and sign-in answers 503, spends nothing, and succeeds once retried', async () => {
      const { emails, tokens } = await signedUpUsers(t, 'terminated', CONCURRENT);

      // A connection of the DBA's to the app's database, ended before useFaultApp drops it.
      const dba = new pg.Client({ connectionString: t.url });
      await dba.connect();
      let refreshed: FaultAnswer[];
      let signedIn: FaultAnswer[];
      try {
        refreshed = await terminatedWhileWaiting(dba, () => tokens.map((token) => refresh(token)));
        signedIn = await terminatedWhileWaiting(dba, () => emails.map((email) => signIn(email)));
      } finally {
        await dba.end();
      }

      for (const answers of [refreshed, signedIn]) {
        const failed = answers.filter((answer) => answer.status !== 200);
        assert.ok(failed.length > 0, 'some requests were in the terminated statements');
        assertUnavailable(failed);
      }
      // The lock is gone: each token cut off still refreshes (it was not spent); the sessions live on.
      for (const [i, token] of tokens.entries()) {
        const first = refreshed[i]!;
        const current =
          first.status === 200 ? (first.body as { refresh_token: string }).refresh_token : token;
        const retried = await served(() => refresh(current));
        assert.equal(retried.status, 200, JSON.stringify(retried.body));
      }
      for (const email of emails) assert.equal((await served(() => signIn(email))).status, 200);
    });
  },
);
