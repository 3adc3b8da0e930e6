import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { PRE_REQUEST_REFUSAL } from '../../src/stores/postgres/pre-request-standing.js';
import { testRoles } from '../support/postgres.js';
import { signedInUser } from '../support/signed-in-user.js';
import { useTestDatabase } from '../support/test-database.js';

const DAY = 86_400_000;
type Claims = Record<string, string | number>;
// Every refusal since migration 58 (pre-request-standing.ts).
const REFUSED = `28P01: ${PRE_REQUEST_REFUSAL}`;

/**
 * PostgREST before 9, and 9 to 11 on PostgreSQL before 14 (db-use-legacy-gucs, on by default), sets
 * each claim as a setting of its own (request.jwt.claim.sub, ...) and no request.jwt.claims: the
 * pre-request answers those claims as it answers the same claims in JSON, and lets a live session's
 * through on its fast path alone (the check on the tables is not called), as it does the JSON ones.
 */
describe('the pre-request under per-claim settings (PostgREST before 12)', () => {
  const database = useTestDatabase({ max: 2 });
  let pool: pg.Pool;
  let store: PostgresStore;
  const role = testRoles.authenticated;

  before(() => {
    ({ pool, store } = database);
  });

  /**
   * The check's verdict (null: through) and, when through, how many times it called the check on
   * the tables, with the claims set as PostgREST sets them: as one JSON text, or one setting each
   * (PostgREST before 9 leaves request.jwt.claims unset; `jsonClaims: ''` as a pooled connection
   * that had it set once shows it).
   */
  async function verdict(
    claims: Claims,
    form: 'json' | 'per-claim',
    jsonClaims: string | null = null,
  ): Promise<{ refusal: string | null; onTables?: number }> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // Counted for this transaction only (pg_stat_xact_user_functions).
      await client.query(`SET LOCAL track_functions = 'all'`);
      if (form === 'json') {
        await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
      } else {
        if (jsonClaims !== null)
          await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [jsonClaims]);
        for (const [name, value] of Object.entries(claims))
          await client.query(`SELECT set_config($1, $2, true)`, [`request.jwt.claim.${name}`, String(value)]);
      }
      await client.query(`SET LOCAL ROLE ${role}`);
      // pg_stat_xact_user_functions also shows counts an earlier transaction of this connection left
      // unreported: the calls of this one are the difference.
      const before = await onTablesCalls(client);
      const refusal = await client
        .query('SELECT auth.check_token_count()')
        .then(() => null)
        .catch((error: { code?: string; message: string }) => `${error.code}: ${error.message}`);
      if (refusal) return { refusal };
      return { refusal, onTables: (await onTablesCalls(client)) - before };
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  async function onTablesCalls(client: pg.PoolClient): Promise<number> {
    const { rows } = await client.query<{ calls: string | null }>(
      `SELECT (SELECT calls FROM pg_stat_xact_user_functions
               WHERE schemaname = 'restauth' AND funcname = 'check_token_on_tables') AS calls`,
    );
    return Number(rows[0]!.calls ?? 0);
  }

  async function signedIn(username: string) {
    const { user, session } = await signedInUser(store, username);
    return {
      user,
      claims: {
        sub: user.id,
        role,
        session_id: session.id,
        token_version: 0,
        aud: 'authenticated',
      } as Claims,
    };
  }

  it("lets a live session's per-claim token through on the fast path, as its JSON token", async () => {
    const { claims } = await signedIn('per-claim');
    assert.deepEqual(await verdict(claims, 'json'), { refusal: null, onTables: 0 });
    assert.deepEqual(await verdict(claims, 'per-claim'), { refusal: null, onTables: 0 });
    assert.deepEqual(await verdict(claims, 'per-claim', ''), { refusal: null, onTables: 0 });
    // A request that is anonymous to the fast path still takes the tables' check, which lets it through.
    assert.deepEqual(await verdict({ role: testRoles.anonymous }, 'per-claim'), {
      refusal: null,
      onTables: 1,
    });
  });

  it('lets anonymous JSON claims through without the check on the tables (migration 34)', async () => {
    for (const claims of [{ role: testRoles.anonymous }, {}] as Claims[]) {
      assert.deepEqual(await verdict(claims, 'json'), { refusal: null, onTables: 0 }, JSON.stringify(claims));
    }
    // A version or a count without a sub is postgrest-auth's token: the tables decide.
    assert.equal((await verdict({ role, count: 0 }, 'json')).refusal, REFUSED);
    const { claims } = await signedIn('anonymous-exit');
    const { sub: _sub, ...withoutSub } = claims;
    assert.notEqual((await verdict(withoutSub, 'json')).refusal, null, 'a token version without a sub');
  });

  it('refuses per-claim tokens as it refuses the same claims in JSON', async () => {
    const { user, claims } = await signedIn('per-claim-refused');
    const { claims: other } = await signedIn('per-claim-other');
    const { role: _role, ...withoutRole } = claims;
    const cases: [string, Claims][] = [
      ['an old token version', { ...claims, token_version: 1 }],
      ["another user's session", { ...claims, session_id: other.session_id! }],
      ['another role', { ...claims, role: testRoles.anonymous }],
      ['no role', withoutRole],
    ];
    for (const [name, token] of cases) {
      const json = await verdict(token, 'json');
      assert.equal(json.refusal, REFUSED, name);
      assert.deepEqual(await verdict(token, 'per-claim'), json, name);
    }
    await store.updateUser(user.id, { bannedUntil: new Date(Date.now() + DAY) });
    const banned = await verdict(claims, 'json');
    assert.equal(banned.refusal, REFUSED);
    assert.deepEqual(await verdict(claims, 'per-claim'), banned);
    await store.updateUser(user.id, { bannedUntil: null });
    await store.revokeSession(String(claims.session_id), 'logout', new Date());
    const ended = await verdict(claims, 'json');
    assert.equal(ended.refusal, REFUSED);
    assert.deepEqual(await verdict(claims, 'per-claim'), ended);
  });
});
