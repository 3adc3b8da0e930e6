import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { quotedNames } from '../../src/stores/postgres/migrations.js';
import {
  claimedRecord,
  claimsRecordVouchQuery,
} from '../../src/stores/postgres/pre-request-claims-record.js';
import { testRoles } from '../support/postgres.js';
import { insertSessionFromBefore, insertUserFromBefore } from '../support/sessions-before.js';
import { useTestDatabase } from '../support/test-database.js';
import { PRE_REQUEST_REFUSAL } from '../../src/stores/postgres/pre-request-standing.js';

const DAY = 86_400_000;
// Since migration 58 every refusal says the same (pre-request-standing.ts).
const REFUSED = `28P01: ${PRE_REQUEST_REFUSAL}`;

/**
 * Migration 35: PostgREST's pre-request refuses a token whose aud is not its user's audience
 * (auth.users.aud), as restauth's own checks do. The attack: a token postgrest-auth or json-data-server
 * signed for this audience (they signed jwt.audience for every user) for a user GoTrue made for
 * another audience in the same auth.users passed PostgREST's jwt-aud and the pre-request alike. A
 * database upgraded from migration 34 gets its live sessions' audiences; a token of the user's own
 * audience, or of none (signed before there was one), still passes.
 */
describe("the pre-request refuses a token whose aud is not its user's (migration 35)", () => {
  const database = useTestDatabase({ max: 4, migrateThrough: 34 });
  let pool: pg.Pool;
  const role = testRoles.authenticated;

  before(() => {
    ({ pool } = database);
  });

  async function signedIn(username: string, aud: string) {
    // In migration 34's SQL: today's store writes columns of later migrations.
    const user = await insertUserFromBefore(pool, { username, role, aud });
    const session = randomUUID();
    await insertSessionFromBefore(pool, {
      id: session,
      userId: user.id,
      notAfter: new Date(Date.now() + DAY),
      secret: 'secret',
    });
    const claims = (audience?: string) => ({
      sub: user.id,
      role,
      session_id: session,
      token_version: 0,
      ...(audience === undefined ? {} : { aud: audience }),
    });
    return { user, session, claims };
  }

  /** Runs check_token_count as PostgREST does, under `claims`: null when it lets the request through. */
  async function verdict(claims: Record<string, unknown>): Promise<string | null> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
      await client.query(`SET LOCAL ROLE ${pg.escapeIdentifier(role)}`);
      return await client
        .query('SELECT auth.check_token_count()')
        .then(() => null)
        .catch((error: { code?: string; message: string }) => `${error.code}: ${error.message}`);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  /**
   * Whether the session's row lets these claims through by the fast path alone: the fast path of the
   * latest migration (63's record equality on `expected`), which the upgrade ends at. Migration 35's
   * containment on `vouches` is no longer what check_token_count reads.
   */
  async function vouched(claims: Record<string, unknown>): Promise<boolean> {
    const q = quotedNames(database.names);
    const fastPath = claimsRecordVouchQuery(q, claimedRecord(q, '$1::text'));
    const { rows } = await pool.query<{ found: boolean }>(`SELECT EXISTS (${fastPath}) AS found`, [
      JSON.stringify(claims),
    ]);
    return rows[0]!.found;
  }

  it('upgraded: a live session of another audience than the token says is refused; its own passes', async () => {
    const partner = await signedIn('partner', 'partner-app');
    const mine = await signedIn('mine', 'my-app');
    assert.equal((await migrate(pool, database.names))[0], 35);

    assert.equal(await verdict(partner.claims('my-app')), REFUSED);
    assert.equal(await verdict(partner.claims('partner-app')), null);
    assert.equal(await verdict(mine.claims('my-app')), null);
    assert.equal(await verdict(mine.claims('partner-app')), REFUSED);
    // Signed before tokens had an audience: taken, as restauth's own check takes it.
    assert.equal(await verdict(mine.claims()), null);
    assert.equal(await vouched(mine.claims()), false, 'it takes the check on the tables');
    // The fast path vouches for the user's own audience only: the rest took the check on the tables.
    assert.equal(await vouched(mine.claims('my-app')), true);
    assert.equal(await vouched(mine.claims('partner-app')), false);
  });

  it('a user moved to another audience: its tokens for the old one end at once', async () => {
    const moved = await signedIn('moved', 'my-app');
    assert.equal(await verdict(moved.claims('my-app')), null);
    await pool.query(`UPDATE auth.users SET aud = 'elsewhere' WHERE id = $1`, [moved.user.id]);
    assert.equal(await verdict(moved.claims('my-app')), REFUSED);
    assert.equal(await verdict(moved.claims('elsewhere')), null);
    assert.equal(await vouched(moved.claims('elsewhere')), true);
  });

  it('a user with no audience (a NULL aud): any token of its session passes, as restauth checks none', async () => {
    const none = await signedIn('noaud', 'x');
    await pool.query('UPDATE auth.users SET aud = NULL WHERE id = $1', [none.user.id]);
    assert.equal(await verdict(none.claims('my-app')), null);
    // Since migration 63 the row expects no aud (NULL) and a token naming one is not vouched for: it
    // takes the check on the tables, which lets it through (the verdict above).
    assert.equal(await vouched(none.claims('my-app')), false, 'it takes the check on the tables');
    assert.equal(await vouched(none.claims()), true, 'a token without aud is vouched for');
  });
});
