import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { hashSecret } from '../../src/core/secrets.js';
import { lockWaiters } from '../support/lock-waiters.js';
import {
  assertUnavailable,
  faultAppConfig,
  signedUpUsers,
  tokenGrants,
  useFaultApp,
  type FaultAnswer,
} from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';

/**
 * A DBA cancels restauth's statements (pg_cancel_backend, 57014) while they wait for a lock it holds
 * on the token table: a sign-up's session write inside its transaction, then a refresh, then a
 * sign-in. Unlike a terminated backend, a cancelled one lives on and its connection goes back to the
 * pool: left in its aborted transaction it would refuse the next request's every statement (25P02, a
 * 500). With one connection in the pool, the refresh waits on the very backend whose sign-up was
 * cancelled. Each cancelled request must answer 503 with Retry-After and write nothing (no user for
 * the sign-up, the token not spent: with no reuse grace a spent one would be refused); once the lock
 * is gone each succeeds.
 */
describe(
  'statements cancelled by a DBA (PostgreSQL)',
  { skip: realServerOnly() ?? false, timeout: 60_000 },
  () => {
    const t = useFaultApp({
      // poolMin 1: the one connection is never reaped as idle, so the refresh meets the very backend
      // whose sign-up was cancelled however slow the machine is between the two.
      config: (url) => {
        const config = faultAppConfig(url, 1);
        return { ...config, store: { ...config.store, poolMin: 1 }, sessions: { reuseGrace: 0 } };
      },
    });
    const { signIn, refresh } = tokenGrants(t);
    const signUp = async (email: string): Promise<FaultAnswer> => {
      const response = await t.signUp(email);
      return {
        status: response.statusCode,
        retryAfter: response.headers['retry-after'],
        body: response.json(),
      };
    };

    /** `request`'s answer, its statement cancelled once it waits for the lock `dba` holds; the backend's pid. */
    const cancelledWhileWaiting = async (dba: pg.Client, request: () => Promise<FaultAnswer>) => {
      const answer = request();
      const polling = new AbortController();
      const waited = await Promise.race([
        lockWaiters(dba, 1, { signal: polling.signal }),
        answer.then((early) => ({ early })),
      ]).finally(() => polling.abort());
      if (!Array.isArray(waited)) assert.fail(`answered before it waited: ${JSON.stringify(waited.early)}`);
      const [pid, ...others] = waited;
      assert.deepEqual(others, [], 'one statement waits');
      const { rows } = await dba.query<{ cancelled: boolean }>('SELECT pg_cancel_backend($1) AS cancelled', [
        pid,
      ]);
      assert.equal(rows[0]!.cancelled, true);
      return { answer: await answer, pid: pid! };
    };

    it('answers 503 with Retry-After, writes nothing, and the connection serves the next request', async () => {
      const {
        emails: [email],
        tokens: [token],
      } = await signedUpUsers(t, 'cancelled', 1);
      const dba = new pg.Client({ connectionString: t.url });
      await dba.connect();
      try {
        await dba.query('BEGIN');
        let cancelled: Array<{ answer: FaultAnswer; pid: number }>;
        try {
          // Reads go on; every write of a token (a new session's, a rotation's) waits.
          await dba.query('LOCK TABLE auth.refresh_tokens IN SHARE ROW EXCLUSIVE MODE');
          cancelled = [
            await cancelledWhileWaiting(dba, () => signUp('cancelled-signup@example.com')),
            await cancelledWhileWaiting(dba, () => refresh(token!)),
            await cancelledWhileWaiting(dba, () => signIn(email!)),
          ];
        } finally {
          await dba.query('ROLLBACK');
        }
        assertUnavailable(cancelled.map(({ answer }) => answer));
        assert.equal(
          cancelled[1]!.pid,
          cancelled[0]!.pid,
          'the refresh ran on the cancelled sign-up’s connection',
        );

        // Nothing of them was written: no user for the sign-up, the sign-up's session alone, its token unspent.
        const { rows: users } = await dba.query('SELECT FROM auth.users WHERE email = $1', [
          'cancelled-signup@example.com',
        ]);
        assert.equal(users.length, 0);
        const { rows: sessions } = await dba.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
           WHERE u.email = $1`,
          [email],
        );
        assert.equal(sessions[0]!.n, 1);
        const { rows: tokens } = await dba.query<{ revoked: boolean }>(
          'SELECT revoked FROM auth.refresh_tokens WHERE token = $1',
          [hashSecret(token!)],
        );
        assert.deepEqual(tokens, [{ revoked: false }]);
      } finally {
        await dba.end();
      }

      for (const again of [
        () => signUp('cancelled-signup@example.com'),
        () => refresh(token!),
        () => signIn(email!),
      ]) {
        const answer = await again();
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      }
    });
  },
);
