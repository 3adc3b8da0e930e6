import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';

/**
 * A sign-up that opens a session at once writes the user, its identity and that first session: a
 * fault on the session's write must leave no user behind. GoTrue's autoconfirm sign-up committed its
 * user, then signed it in apart: the session's fault answered 503 (retry), and every retry answered
 * 422 user_already_exists, an account its owner could never finish nor sign up again. The fault is a
 * trigger the test adds on auth.sessions, raising disk_full (53100) on each insert, as a full disk
 * would refuse that write alone.
 */
describe(
  'a sign-up that fails half-way leaves no half-made account (PostgreSQL)',
  // The DBA's connection beside the app's pool (see postgres-schema-changed): a real server only.
  { skip: realServerOnly() ?? false },
  () => {
    const t = useFaultApp({ anonymousUsers: true });

    /** Runs `during` while every session insert fails with disk_full, then removes the fault. */
    async function whileSessionsRefused<T>(during: () => Promise<T>): Promise<T> {
      return withDba(async (dba) => {
        await dba.query(`
          CREATE FUNCTION public.refuse_session() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$;
          CREATE TRIGGER refuse_session BEFORE INSERT ON auth.sessions
            FOR EACH ROW EXECUTE FUNCTION public.refuse_session();`);
        try {
          return await during();
        } finally {
          await dba.query(
            'DROP TRIGGER refuse_session ON auth.sessions; DROP FUNCTION public.refuse_session()',
          );
        }
      });
    }

    /** A connection to the app's database, as its owner, for the time of `use`. */
    async function withDba<T>(use: (dba: pg.Client) => Promise<T>): Promise<T> {
      const dba = new pg.Client({ connectionString: t.url });
      await dba.connect();
      try {
        return await use(dba);
      } finally {
        await dba.end();
      }
    }

    const usersNamed = (email: string) =>
      withDba(async (dba) => {
        const { rows } = await dba.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM auth.users WHERE email = $1',
          [email],
        );
        return rows[0]!.n;
      });

    it('GoTrue /signup without confirmation: 503 during the fault, nothing left, the retry answers 200', async () => {
      const email = 'half@acme.test';
      const during = await whileSessionsRefused(() => t.signUp(email));
      assert.equal(during.statusCode, 503, during.body);
      assert.equal(during.json().error_code, 'store_unavailable');
      assert.equal(await usersNamed(email), 0, 'no user is left by the failed sign-up');

      const retried = await t.signUp(email);
      assert.equal(retried.statusCode, 200, retried.body);
      const answer = retried.json();
      assert.equal(answer.user.email, email);
      assert.ok(answer.access_token);
      // The session is still a sign-in: the user's last_sign_in_at is its time, as GoTrue's.
      assert.ok(answer.user.last_sign_in_at, retried.body);
      const signIn = await t.app.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email, password: 'correct horse battery' },
      });
      assert.equal(signIn.statusCode, 200, signIn.body);
    });

    it('an anonymous sign-in: 503 during the fault and no anonymous user left behind', async () => {
      const anonymous = () =>
        withDba(async (dba) => {
          const { rows } = await dba.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM auth.users WHERE is_anonymous',
          );
          return rows[0]!.n;
        });
      const before = await anonymous();
      const during = await whileSessionsRefused(() =>
        t.app.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: { data: { n: 1 } } }),
      );
      assert.equal(during.statusCode, 503, during.body);
      assert.equal(await anonymous(), before);
      const retried = await t.app.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: {} });
      assert.equal(retried.statusCode, 200, retried.body);
      assert.equal(await anonymous(), before + 1);
    });
  },
);
