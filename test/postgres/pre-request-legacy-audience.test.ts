import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { adoptedRole } from '../support/adopted-role.js';
import { testRoles } from '../support/postgres.js';
import { postgrestRequest, type PostgrestOptions } from '../support/postgrest.js';
import { signedInUser } from '../support/signed-in-user.js';
import { useTestDatabase } from '../support/test-database.js';
import { PRE_REQUEST_REFUSAL } from '../../src/stores/postgres/pre-request-standing.js';
import { PRE_REQUEST_REFUSED, setClaims } from '../support/pre-request-verdict.js';

const SECRET = 'pre-request-legacy-audience-secret-0123';
// Since migration 58 every refusal says the same (pre-request-standing.ts).
const REFUSED = `28P01: ${PRE_REQUEST_REFUSAL}`;
type Claims = Record<string, string | number | boolean>;

/**
 * Migration 39: the audience rule of migration 35 holds on every way through the pre-request. The
 * attack: a token saying another audience than its user's (auth.users.aud), sent to PostgREST before
 * 12, which sets each claim as a setting of its own (request.jwt.claim.aud, ...), or naming its user
 * as postgrest-auth's tokens do (by its role, no sub) or by its account's number. Those tokens are
 * not vouched for by the fast path, and the check they then took never compared the audience.
 */
describe('the pre-request refuses another audience under per-claim settings and every token shape (migration 39)', () => {
  const database = useTestDatabase({ max: 2 });
  let pool: pg.Pool;
  let store: PostgresStore;
  const role = testRoles.authenticated;

  before(() => {
    ({ pool, store } = database);
  });

  /**
   * Runs `sql` in a transaction as PostgREST's, with the claims set as PostgREST sets them: one JSON
   * text (12 and later), or one setting each (before 12): its first value, or the error as text.
   */
  async function underClaims(sql: string, claims: Claims, form: 'json' | 'per-claim'): Promise<unknown> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await setClaims(client, claims, form);
      // As PostgREST: under the token's role (migration 58 checks a role token only under it).
      await client.query(`SELECT set_config('role', $1, true)`, [claims.role ?? role]);
      return await client.query<Record<string, unknown>>(sql).then(
        ({ rows }) => Object.values(rows[0] ?? {})[0] ?? null,
        (error: { code?: string; message: string }) => `${error.code}: ${error.message}`,
      );
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  /** check_token_count's verdict: null lets the request through (its void reads as ''). */
  const verdict = async (claims: Claims, form: 'json' | 'per-claim') =>
    (await underClaims('SELECT auth.check_token_count()', claims, form)) || null;

  /** A signed-in user (aud authenticated, as the store makes it) and its account's number. */
  async function signedIn(username: string) {
    const { user, session } = await signedInUser(store, username);
    const { rows } = await pool.query<{ id: number; aud: string }>(
      `SELECT a.id, u.aud FROM restauth.accounts a JOIN auth.users u ON u.id = a.uid WHERE a.uid = $1`,
      [user.id],
    );
    const claims: Claims = { sub: user.id, role, session_id: session.id, token_version: 0 };
    return { user, account: rows[0]!.id, aud: rows[0]!.aud, claims };
  }

  it("refuses a per-claim token of another audience, as the same claims in JSON; the user's own passes", async () => {
    const { aud, claims } = await signedIn('legacy-aud');
    assert.equal(aud, 'authenticated');
    for (const form of ['json', 'per-claim'] as const) {
      assert.equal(await verdict({ ...claims, aud: 'other' }, form), REFUSED, form);
      assert.equal(await verdict({ ...claims, aud }, form), null, form);
      // Signed before tokens had an audience: taken, as restauth's own check takes it.
      assert.equal(await verdict(claims, form), null, form);
    }
    // A user with no audience: any audience passes, as restauth checks none.
    await pool.query('UPDATE auth.users SET aud = NULL WHERE id = $1', [claims.sub]);
    assert.equal(await verdict({ ...claims, aud: 'other' }, 'per-claim'), null);
  });

  it("refuses another audience in a token naming its user by its account's number or by its role (postgrest-auth)", async () => {
    const { account, aud, claims } = await signedIn('legacy-shapes');
    // A role postgrest-auth handed out and restauth adopted: its tokens say the role and a count, no sub.
    const { role: userRole } = await adoptedRole(pool, String(claims.sub), 'legacy_aud');
    const shapes: [string, Claims][] = [
      ["the account's number", { ...claims, sub: String(account) }],
      ['the role', { role: userRole, count: 0 }],
    ];
    for (const [name, token] of shapes) {
      for (const form of ['json', 'per-claim'] as const) {
        assert.equal(await verdict({ ...token, aud: 'other' }, form), REFUSED, `${name}, ${form}`);
        assert.equal(await verdict({ ...token, aud }, form), null, `${name}, ${form}`);
      }
    }
  });

  it('auth.jwt() gives the aud, aal and is_anonymous claims under per-claim settings as in JSON', async () => {
    const { claims } = await signedIn('legacy-jwt');
    const token = { ...claims, aud: 'authenticated', aal: 'aal1', is_anonymous: false };
    for (const claim of ['aud', 'aal', 'is_anonymous']) {
      const sql = `SELECT auth.jwt() ->> '${claim}'`;
      const json = await underClaims(sql, token, 'json');
      assert.equal(json, String(token[claim as keyof typeof token]), claim);
      assert.equal(await underClaims(sql, token, 'per-claim'), json, claim);
    }
    // Supabase's policy for signed-in users who are not anonymous reads it so.
    const policy = `SELECT (auth.jwt() ->> 'is_anonymous')::boolean IS false`;
    assert.equal(await underClaims(policy, token, 'per-claim'), true);
  });

  describe('with a token restauth issued, through the PostgREST harness', () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp({
        format: 'restauth',
        config: {
          store: database.config,
          roles: { anonymous: testRoles.anonymous, authenticated: role },
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        },
        env: { RESTAUTH_JWT_SECRET: SECRET },
      });
    });
    after(() => t.close());

    it('refuses it under either claims style once an administrator moved its user to another audience', async () => {
      const registered = await t.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { username: 'moved-aud', password: 'a passphrase' },
      });
      assert.equal(registered.statusCode, 200, registered.body);
      const token = (registered.json() as { access_token: string }).access_token;
      const rest: PostgrestOptions = {
        secret: SECRET,
        anonRole: testRoles.anonymous,
        preRequest: 'auth.check_token_count',
      };
      for (const claimsStyle of ['json', 'legacy'] as const)
        await postgrestRequest(pool, { ...rest, claimsStyle }, token, 'SELECT 1');
      const user = await t.services.store.findUserByUsername('moved-aud');
      await pool.query(`UPDATE auth.users SET aud = 'partner-app' WHERE id = $1`, [user!.id]);
      for (const claimsStyle of ['json', 'legacy'] as const) {
        await assert.rejects(
          postgrestRequest(pool, { ...rest, claimsStyle }, token, 'SELECT 1'),
          {
            status: 403,
            message: PRE_REQUEST_REFUSED,
          },
          claimsStyle,
        );
      }
      // restauth's own check refuses it alike.
      await assert.rejects(t.services.auth.check(token), { code: 'bad_jwt', message: /aud/ });
    });
  });
});
