import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { testRoles } from '../support/postgres.js';
import { setClaims } from '../support/pre-request-verdict.js';
import { signedInUser } from '../support/signed-in-user.js';
import { useTestDatabase } from '../support/test-database.js';

const DAY = 86_400_000;
const role = testRoles.authenticated;
type Claims = Record<string, string | number>;

/**
 * Migration 62: a SQL login that sets the claims itself and calls the pre-request learns nothing from
 * the work the check does: an account number that exists costs what one that does not costs, whatever
 * its token count, ban or session. The work is counted, never timed: the scans, the rows and the
 * buffers each table and index of restauth's and GoTrue's schemas gave the call
 * (pg_stat_get_xact_*, this transaction's own counts in this backend).
 */
describe("the pre-request's work does not depend on the account a token names (migration 62)", () => {
  const database = useTestDatabase({ max: 2 });
  let pool: pg.Pool;
  let store: PostgresStore;
  const numbers: number[] = [];
  const users: { id: string }[] = [];

  before(async () => {
    ({ pool, store } = database);
    for (const name of ['work-a', 'work-b', 'work-banned', 'work-gone', 'work-c']) {
      const { user } = await signedInUser(store, name);
      users.push(user);
      const { rows } = await pool.query<{ id: number }>('SELECT id FROM restauth.accounts WHERE uid = $1', [
        user.id,
      ]);
      numbers.push(rows[0]!.id);
    }
    await store.updateUser(users[2]!.id, { bannedUntil: new Date(Date.now() + DAY) });
    // A gap: the number of an account that was deleted.
    await pool.query('DELETE FROM auth.users WHERE id = $1', [users[3]!.id]);
    // Until vacuumed, the first scan meeting a deleted row's index entries reads its page once more
    // (then marks them dead): work of the deletion, whichever account is asked about.
    await pool.query('VACUUM auth.users, restauth.accounts, auth.sessions');
  });

  /**
   * The work of one call of the check on `claims` (JSON, or one setting each), as the request's role:
   * per relation its scans, rows read and fetched, and buffers, above what the transaction counted
   * before the call. The call is refused (the claims name no live session) and rolled back to a
   * savepoint, which keeps the counts of what it read.
   */
  async function workOf(client: pg.PoolClient, claims: Claims, form: 'json' | 'per-claim') {
    const counts = async () => {
      const { rows } = await client.query<{ rel: string; counts: string }>(
        `SELECT c.oid::regclass::text AS rel,
                concat_ws(' ', pg_stat_get_xact_numscans(c.oid), pg_stat_get_xact_tuples_returned(c.oid),
                  pg_stat_get_xact_tuples_fetched(c.oid), pg_stat_get_xact_blocks_fetched(c.oid),
                  pg_stat_get_xact_blocks_hit(c.oid)) AS counts
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('auth', 'restauth') AND c.relkind IN ('r', 'i') ORDER BY 1`,
      );
      return new Map(rows.map((row) => [row.rel, row.counts.split(' ').map(Number)]));
    };
    const before = await counts();
    await client.query('SAVEPOINT probe');
    await setClaims(client, claims, form);
    await client.query(`SET LOCAL ROLE ${role}`);
    const refusal = await client.query('SELECT auth.check_token_count()').then(
      () => null,
      (error: Error) => error.message,
    );
    await client.query('ROLLBACK TO SAVEPOINT probe');
    assert.notEqual(refusal, null, `${JSON.stringify(claims)} is refused`);
    const after = await counts();
    const work: Record<string, number[]> = {};
    for (const [rel, counted] of after) {
      const difference = counted.map((count, index) => count - (before.get(rel)?.[index] ?? 0));
      if (difference.some((count) => count !== 0)) work[rel] = difference;
    }
    return work;
  }

  /** The work of each probe, after each was run once (the function compiled, its plans made). */
  async function workOfEach(probes: Claims[], form: 'json' | 'per-claim') {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (const probe of probes) await workOf(client, probe, form);
      const works = [];
      for (const probe of probes) works.push(await workOf(client, probe, form));
      return works;
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('reads as much for an account number that exists, with its right count or not, as for one that does not', async () => {
    const [first, second, banned, gone, last] = numbers as [number, number, number, number, number];
    const session_id = randomUUID();
    const probe = (sub: number, token_version: number) => ({
      sub: String(sub),
      role,
      token_version,
      session_id,
    });
    const probes = [
      probe(second, 0), // exists, its count: before, the one that also read the session
      probe(second, 5), // exists, another count
      probe(banned, 0),
      probe(gone, 0), // a deleted account's number
      probe(last + 1000, 0), // above every account's
      probe(first, 0),
    ];
    const works = await workOfEach(probes, 'json');
    assert.ok(Object.keys(works[0]!).length > 0, 'the work is counted');
    for (const [index, work] of works.entries())
      assert.deepEqual(work, works[0], `${JSON.stringify(probes[index])} works as the first`);
  });

  it("reads as much for a user's uuid, whatever its token count, ban or session, under per-claim settings", async () => {
    // Whether a uuid is a user's still shows (its rows are fetched): uuids are not guessed.
    const probe = (sub: string, token_version: number, session_id: string = randomUUID()) => ({
      sub,
      role,
      token_version,
      session_id,
    });
    const probes = [
      probe(users[1]!.id, 0), // its count: before, the one that also read the session
      probe(users[1]!.id, 3),
      probe(users[1]!.id, 0, 'not a session'),
      probe(users[2]!.id, 0), // banned
      probe(users[4]!.id, 0),
    ];
    const works = await workOfEach(probes, 'per-claim');
    assert.ok(Object.keys(works[0]!).length > 0, 'the work is counted');
    for (const [index, work] of works.entries())
      assert.deepEqual(work, works[0], `${JSON.stringify(probes[index])} works as the first`);
  });
});
