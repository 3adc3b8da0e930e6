import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AuthError as ClientAuthError, GoTrueAdminApi } from '@supabase/auth-js';
import pg from 'pg';
import { gotrueClient, listen, serviceAdminOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { lockWaiters } from '../support/lock-waiters.js';
import { suiteStore } from '../support/postgres.js';

/**
 * The race: a sign-in whose statement began before a concurrent MFA factor verification committed.
 * Its snapshot did not see the factor, and the verification's trigger (migration 47), whose DELETE
 * ran before the sign-in committed, did not see its session: the session and its access token
 * outlived the factor. Since migration 52 both lock the user's row first, so whichever waits sees the
 * other. The interleavings are made with real locks and observed in pg_stat_activity, no sleeps.
 */
const PASSWORD = 'correct horse battery';
const codeOf = (error: ClientAuthError | null) => (error as { code?: string } | null)?.code;

describe('race: a sign-in beside a factor verification (postgres store)', () => {
  let store: Awaited<ReturnType<typeof suiteStore>>;
  let started: Awaited<ReturnType<typeof startMailingApp>>;
  let url: string;
  let db: pg.Pool;
  let admin: GoTrueAdminApi;

  before(async () => {
    store = await suiteStore('postgres');
    // A cap of one session, so a test can hold a sign-in mid-way: its cap waits for a row held here.
    started = await startMailingApp({ ...store.config, sessions: { maxPerUser: 1 } });
    url = await listen(started.t);
    db = new pg.Pool({ connectionString: store.config.store!.url, max: 4 });
    const { t } = started;
    admin = await serviceAdminOf({ url, t }, 86_400);
  });
  after(async () => {
    await db.end();
    await stopMailingApp(started.t, started.sink);
    await store.drop();
  });

  async function confirmedUser(email: string): Promise<string> {
    const { data, error } = await admin.createUser({ email, password: PASSWORD, email_confirm: true });
    assert.equal(error, null);
    return data.user!.id;
  }

  const verifyTotp = (client: pg.ClientBase, userId: string) =>
    client.query(
      `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
       VALUES ($1, $2, 'phone app', 'totp', 'verified', now(), now(), 'JBSWY3DPEHPK3PXP')`,
      [randomUUID(), userId],
    );

  const signIn = (email: string) =>
    gotrueClient(url).client.signInWithPassword({ email, password: PASSWORD });

  async function sessionsOf(userId: string): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>('SELECT id FROM auth.sessions WHERE user_id = $1', [
      userId,
    ]);
    return rows.map((row) => row.id);
  }

  /** A transaction on a connection of its own, begun; release() after its COMMIT or ROLLBACK. */
  async function begun(): Promise<pg.PoolClient> {
    const client = await db.connect();
    await client.query('BEGIN');
    return client;
  }

  it('a sign-in that waited for the verifier to commit sees the factor: 403 insufficient_aal', async () => {
    const id = await confirmedUser('wren@acme.test');
    // The verifier also writes the user's row (as an administrator's SQL or a GoTrue may): the sign-in's
    // statement starts, then waits for that row until the factor is committed.
    const verifier = await begun();
    try {
      await verifier.query('UPDATE auth.users SET updated_at = now() WHERE id = $1', [id]);
      await verifyTotp(verifier, id);
      const signing = signIn('wren@acme.test');
      await lockWaiters(db, 1);
      await verifier.query('COMMIT');
      const { data, error } = await signing;
      assert.equal(codeOf(error), 'insufficient_aal', `the sign-in opened ${data.session?.access_token}`);
    } finally {
      verifier.release();
    }
    assert.deepEqual(await sessionsOf(id), []);
  });

  it("a sign-in that held the user's row when the factor committed: its session ends at its commit", async () => {
    const id = await confirmedUser('yves@acme.test');
    const first = await signIn('yves@acme.test');
    assert.equal(first.error, null);
    const [earlier] = await sessionsOf(id);
    // The sign-in's cap (its last statement, after its session's insert) waits for the earlier session,
    // held here: the sign-in holds the user's row, its new session not committed.
    const holder = await begun();
    let opened: Awaited<ReturnType<typeof signIn>>;
    try {
      await holder.query('SELECT FROM auth.sessions WHERE id = $1 FOR UPDATE', [earlier]);
      const signing = signIn('yves@acme.test');
      await lockWaiters(db, 1);
      const verifier = await begun();
      try {
        await verifyTotp(verifier, id);
        const verified = verifier.query('COMMIT');
        await lockWaiters(db, 2);
        await holder.query('COMMIT');
        [opened] = await Promise.all([signing, verified]);
      } finally {
        verifier.release();
      }
    } finally {
      holder.release();
    }
    // The sign-in began before the factor: it may answer, but its session must not outlive the factor.
    assert.equal(opened.error, null);
    assert.deepEqual(await sessionsOf(id), []);
    // Raw HTTP: auth-js turns GoTrue's session_not_found into a local 'Auth session missing'.
    const user = await fetch(`${url}/user`, {
      headers: { authorization: `Bearer ${opened.data.session!.access_token}` },
    });
    assert.equal(user.status, 403);
    assert.equal(((await user.json()) as { error_code?: string }).error_code, 'session_not_found');
  });
});
