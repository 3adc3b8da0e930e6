import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AuthError as ClientAuthError, GoTrueAdminApi } from '@supabase/auth-js';
import pg from 'pg';
import { gotrueClient, nextMail, secretsOf, serviceAdminOf } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import type { TestIdp } from '../support/oidc-provider.js';
import { suiteStore } from '../support/postgres.js';
import { PRE_REQUEST_REFUSED, preRequestVerdict as verdictOf } from '../support/pre-request-verdict.js';

/**
 * The attack: a GoTrue database served by restauth (which has no MFA) holds users who protect their
 * accounts with a second factor. A stolen password, or a mailbox, or a provider account, alone must not
 * open such an account, by any path: restauth opens and refreshes no session for a user with a
 * verified factor, checked in the SQL that opens or rotates it, and answers 403 insufficient_aal. A
 * factor verified while restauth runs (another GoTrue, an administrator's SQL) ends the user's aal1
 * sessions at its commit, as GoTrue's verify does. An unverified factor (an enrollment never finished)
 * changes nothing. Real PostgreSQL, real SMTP, a real OIDC provider, the real auth-js.
 */
const PASSWORD = 'correct horse battery';
const sha256hex = (value: string) => createHash('sha256').update(value).digest('hex');
const codeOf = (error: ClientAuthError | null) => (error as { code?: string } | null)?.code;

function assertRefusedForFactor(error: ClientAuthError | null, path: string): void {
  assert.ok(error, `${path}: a session was opened`);
  assert.equal(codeOf(error), 'insufficient_aal', `${path}: ${error.message}`);
  assert.equal(error.status, 403, path);
  assert.match(error.message, /verified MFA factor/u, path);
}

describe('attack: users with a verified MFA factor get no session from restauth (postgres store)', () => {
  let app: OAuthApp<TestIdp>;
  let store: Awaited<ReturnType<typeof suiteStore>>;
  let db: pg.Pool;
  let admin: GoTrueAdminApi;

  before(async () => {
    store = await suiteStore('postgres');
    app = await startKeycloakApp({ ...store.config });
    db = new pg.Pool({ connectionString: store.config.store!.url, max: 2 });
    admin = await serviceAdminOf(app, 86_400);
  });
  after(async () => {
    await db.end();
    await app.close();
    await store.drop();
  });

  /** A TOTP factor as GoTrue's enroll (and, `verified`, its first verify) writes it. */
  async function enrollTotp(
    userId: string,
    status: 'verified' | 'unverified',
    client: pg.ClientBase | pg.Pool = db,
  ): Promise<void> {
    await client.query(
      `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
       VALUES ($1, $2, $3, 'totp', $4, now(), now(), 'JBSWY3DPEHPK3PXP')`,
      [randomUUID(), userId, `phone app ${randomUUID()}`, status],
    );
  }

  async function confirmedUser(email: string, factor?: 'verified' | 'unverified'): Promise<string> {
    const { data, error } = await admin.createUser({ email, password: PASSWORD, email_confirm: true });
    assert.equal(error, null);
    if (factor) await enrollTotp(data.user!.id, factor);
    return data.user!.id;
  }

  /** `work` in a transaction of its own on the database, committed. */
  async function inTransaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  /** A confirmed user without a factor, signed in by password: its id, auth-js client and session. */
  async function signedIn(email: string) {
    const id = await confirmedUser(email);
    const { client } = gotrueClient(app.url);
    const { data, error } = await client.signInWithPassword({ email, password: PASSWORD });
    assert.equal(error, null);
    return { id, client, session: data.session! };
  }

  const preRequestVerdict = (accessToken: string) => verdictOf(db, accessToken);

  async function mailedCode(email: string, ask: () => Promise<{ error: ClientAuthError | null }>) {
    const since = app.sink.mails.length;
    const { error } = await ask();
    assert.equal(error, null);
    return secretsOf(await nextMail(app.sink, email, since)).code;
  }

  async function sessionsOf(userId: string): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM auth.sessions WHERE user_id = $1',
      [userId],
    );
    return rows[0]!.n;
  }

  it('a password sign-in is refused 403 insufficient_aal, with no session written', async () => {
    const id = await confirmedUser('pia@acme.test', 'verified');
    const { data, error } = await gotrueClient(app.url).client.signInWithPassword({
      email: 'pia@acme.test',
      password: PASSWORD,
    });
    assertRefusedForFactor(error, 'password');
    assert.equal(data.session, null);
    assert.equal(await sessionsOf(id), 0);
  });

  it('a mailed sign-in code, a recovery code and an admin-generated magic link open no session', async () => {
    const email = 'otto@acme.test';
    const id = await confirmedUser(email, 'verified');
    const { client } = gotrueClient(app.url);

    const answers: Record<string, ClientAuthError | null> = {};
    const otp = await mailedCode(email, () =>
      client.signInWithOtp({ email, options: { shouldCreateUser: false } }),
    );
    answers['otp'] = (await client.verifyOtp({ email, token: otp, type: 'email' })).error;
    const recovery = await mailedCode(email, () => client.resetPasswordForEmail(email));
    answers['recovery'] = (await client.verifyOtp({ email, token: recovery, type: 'recovery' })).error;
    const link = await admin.generateLink({ type: 'magiclink', email });
    assert.equal(link.error, null);
    answers['generate_link'] = (
      await client.verifyOtp({ token_hash: link.data.properties!.hashed_token, type: 'magiclink' })
    ).error;

    // Every path judged before any is asserted: a failure names each path that opened a session.
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(answers).map(([path, error]) => [path, codeOf(error) ?? 'a session']),
      ),
      { otp: 'insufficient_aal', recovery: 'insufficient_aal', generate_link: 'insufficient_aal' },
    );
    for (const [path, error] of Object.entries(answers)) assertRefusedForFactor(error, path);
    assert.equal(await sessionsOf(id), 0);
  });

  it('the mailbox alone changes no password: the hosted recovery form is refused, the hash kept', async () => {
    const email = 'rita@acme.test';
    const id = await confirmedUser(email, 'verified');
    const since = app.sink.mails.length;
    assert.equal((await gotrueClient(app.url).client.resetPasswordForEmail(email)).error, null);
    const { link } = secretsOf(await nextMail(app.sink, email, since));
    const hashOf = async () =>
      (await db.query('SELECT encrypted_password FROM auth.users WHERE id = $1', [id])).rows[0];
    const before = await hashOf();
    // The page's own form, as a browser posts it to the link's address.
    const form = await app.t.app.inject({
      method: 'POST',
      url: new URL(link).pathname + new URL(link).search,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'password=attacker+passphrase&password_confirm=attacker+passphrase',
    });
    // The form again, with the reason (recovery-form-refusals.test.ts: the link stays usable).
    assert.equal(form.statusCode, 403, form.body);
    assert.match(form.headers['content-type'] as string, /^text\/html/u);
    assert.match(form.body, /AAL2 session is required/u);
    assert.deepEqual(await hashOf(), before);
    const signIn = await gotrueClient(app.url).client.signInWithPassword({
      email,
      password: 'attacker passphrase',
    });
    assert.equal(codeOf(signIn.error), 'invalid_credentials');
  });

  it("an OIDC provider's id_token for the user's verified address opens no session", async () => {
    const email = 'ida@acme.test';
    const id = await confirmedUser(email, 'verified');
    const token = await app.provider.idToken({
      sub: 'kc-ida',
      email,
      email_verified: true,
      nonce: sha256hex('raw-nonce'),
    });
    const { error } = await gotrueClient(app.url).client.signInWithIdToken({
      provider: 'keycloak',
      token,
      nonce: 'raw-nonce',
    });
    assertRefusedForFactor(error, 'id_token');
    assert.equal(await sessionsOf(id), 0);
  });

  it('an unverified factor changes nothing: password, code, refresh all work', async () => {
    const email = 'una@acme.test';
    await confirmedUser(email, 'unverified');
    const { client } = gotrueClient(app.url);
    const signIn = await client.signInWithPassword({ email, password: PASSWORD });
    assert.equal(signIn.error, null);
    const refreshed = await client.refreshSession();
    assert.equal(refreshed.error, null);
    assert.ok(refreshed.data.session?.access_token);
    const otp = await mailedCode(email, () =>
      client.signInWithOtp({ email, options: { shouldCreateUser: false } }),
    );
    assert.equal((await client.verifyOtp({ email, token: otp, type: 'email' })).error, null);
  });

  it('a factor verified while restauth serves ends the aal1 sessions at its commit; the next sign-in and refresh are refused', async () => {
    const email = 'vic@acme.test';
    const { id, session } = await signedIn(email);
    const { access_token: accessToken, refresh_token: refreshToken } = session;
    assert.equal(await preRequestVerdict(accessToken), null);
    // GoTrue (beside restauth) verifies the factor on a session of its own: in one transaction it marks
    // the factor verified, then raises that session to aal2, which outlives the commit.
    const gotrueSession = randomUUID();
    await db.query(
      `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES ($1, $2, now(), now(), 'aal1')`,
      [gotrueSession, id],
    );
    await inTransaction(async (client) => {
      await enrollTotp(id, 'verified', client);
      await client.query(`UPDATE auth.sessions SET aal = 'aal2' WHERE id = $1`, [gotrueSession]);
    });

    assert.deepEqual((await db.query('SELECT id::text FROM auth.sessions WHERE user_id = $1', [id])).rows, [
      { id: gotrueSession },
    ]);
    const { rows: ends } = await db.query('SELECT reason FROM restauth.session_ends WHERE user_id = $1', [
      id,
    ]);
    assert.deepEqual(ends, [{ reason: 'mfa_factor_verified' }]);
    // The access token's session has ended: restauth's own check and PostgREST's pre-request refuse it.
    const { error: userError } = await gotrueClient(app.url).client.getUser(accessToken);
    // auth-js turns GoTrue's session_not_found into a signed-out state.
    assert.equal(userError?.name, 'AuthSessionMissingError');
    assert.match(String(await preRequestVerdict(accessToken)), PRE_REQUEST_REFUSED);

    const refreshed = await gotrueClient(app.url).client.refreshSession({ refresh_token: refreshToken });
    assertRefusedForFactor(refreshed.error, 'refresh');
    const again = await gotrueClient(app.url).client.signInWithPassword({ email, password: PASSWORD });
    assertRefusedForFactor(again.error, 'password after the factor');
  });

  it("GoTrue's own role, which may not touch restauth's tables, verifies a factor: it commits, and the sessions end", async () => {
    const { id } = await signedIn('gus@acme.test');
    // As supabase_auth_admin: it owns auth's tables in Supabase (so row security does not apply to
    // it), and has no grant on restauth's.
    const role = `gotrue_${randomUUID().replaceAll('-', '')}`;
    await db.query(`CREATE ROLE ${role} NOLOGIN BYPASSRLS; GRANT USAGE ON SCHEMA auth TO ${role};
      GRANT SELECT, INSERT, UPDATE ON auth.mfa_factors TO ${role}`);
    try {
      await inTransaction(async (client) => {
        await client.query(`SET LOCAL ROLE ${role}`);
        await enrollTotp(id, 'unverified', client);
        await client.query(`UPDATE auth.mfa_factors SET status = 'verified' WHERE user_id = $1`, [id]);
      });
    } finally {
      await db.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
    assert.equal(await sessionsOf(id), 0);
  });

  it('a live session of such a user (the trigger bypassed) is still never refreshed: the refresh statement checks', async () => {
    const { id, client } = await signedIn('rex@acme.test');
    // A replica's apply (or an operator's bulk load) fires no ordinary trigger: the session stays.
    await inTransaction(async (client) => {
      await client.query('SET LOCAL session_replication_role = replica');
      await enrollTotp(id, 'verified', client);
    });
    assert.equal(await sessionsOf(id), 1);

    const refreshed = await client.refreshSession();
    assertRefusedForFactor(refreshed.error, 'refresh');
    // Nothing was rotated: the presented token is still the session's live one, and not handed back.
    const { rows } = await db.query<{ live: number }>(
      `SELECT count(*)::int AS live FROM auth.refresh_tokens WHERE user_id = $1 AND revoked IS NOT TRUE`,
      [id],
    );
    assert.equal(rows[0]!.live, 1);
  });
});
