import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthError } from '../../src/core/errors.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { settleNameSkeletons } from '../../src/stores/postgres/name-skeletons.js';
import { namedUser } from '../support/named-user.js';
import { realServerOnly } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

const ACCOUNTS = 'restauth.accounts';

/** The warnings a start's settleNameSkeletons gives. */
async function settled(db: ReturnType<typeof useTestDatabase>): Promise<string[]> {
  const warnings: string[] = [];
  await settleNameSkeletons(db.pool, ACCOUNTS, { warn: (line) => warnings.push(line) });
  return warnings;
}

/**
 * Migration 37: user names that look alike (core/skeleton.ts) are refused by a unique skeleton. The
 * names a database holds get theirs; names that already look alike both keep signing in, the
 * oldest holds the skeleton, and a start names them; a name SQL writes later gets its own at a start.
 * Migrations 37 and 41 fill them by today's rule (core/skeleton.ts): ASCII names are told apart by
 * their login keys, so `Ivan` and `lvan` are two names.
 */
describe('PostgreSQL: user names unique by their skeletons (migration 37)', () => {
  const db = useTestDatabase({ migrateThrough: 11 });

  it('fills the stored names, keeps look-alikes signing in, and refuses new look-alikes of either', async () => {
    // As postgrest-auth's table held them, before look-alikes (or mixed scripts) were refused.
    await db.pool.query(`INSERT INTO auth.users (username, username_lowercase, password) VALUES
      ('alex', 'alex', 'h1'), ('\u0430\u0406\u0435\u0445', '\u0430\u0456\u0435\u0445', 'h2'),
      ('Ivan', 'ivan', 'h3'), ('lvan', 'lvan', 'h4'), ('Zoë', 'zoë', 'h5'), ('Zoe', 'zoe', 'h6')`);
    assert.ok((await migrate(db.pool, db.names)).includes(37));
    const { rows } = await db.pool.query(`SELECT id, username_skeleton FROM ${ACCOUNTS} ORDER BY id`);
    assert.deepEqual(rows, [
      { id: 1, username_skeleton: 'alex' },
      { id: 2, username_skeleton: null },
      { id: 3, username_skeleton: 'ivan' },
      { id: 4, username_skeleton: 'lvan' },
      { id: 5, username_skeleton: 'zo\u00eb' },
      { id: 6, username_skeleton: 'zoe' },
    ]);
    assert.equal((await db.store.findUserByUsername('\u0430\u0406\u0435\u0445'))?.username, 'аІех');
    assert.equal((await db.store.findUserByUsername('LVAN'))?.username, 'lvan');
    // АІЕХ, іvan and Ӏvan (Cyrillic) beside аІех and Ivan.
    for (const lookalike of ['\u0410\u0406\u0415\u0425', '\u0456van', '\u04c0van']) {
      await assert.rejects(
        db.store.createUser(namedUser(lookalike), null),
        (error: AuthError) => error.code === 'user_already_exists',
        lookalike,
      );
    }
    assert.deepEqual(await settled(db), [
      `restauth: 1 user name(s) look like another user's (UTS #39 confusables), kept; new look-alikes of ` +
        `either are refused; consider renaming: user 2 "аІех" looks like user 1 "alex"`,
    ]);
  });

  it('of two look-alikes signing up at once, one is stored and the other is taken', async (t) => {
    const skip = realServerOnly();
    if (skip) return t.skip(skip);
    const results = await Promise.allSettled([
      db.store.createUser(namedUser('cocoa'), null),
      db.store.createUser(namedUser('\u0441\u043e\u0441\u043e\u0430'), null),
    ]);
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
    const refused = results.find((result) => result.status === 'rejected');
    assert.equal((refused?.reason as AuthError).code, 'user_already_exists');
  });

  it('a name SQL writes without its skeleton gets one at the next start', async () => {
    const zed = await db.store.createUser(namedUser('zed'), null);
    await db.pool.query(
      `UPDATE ${ACCOUNTS} SET username = 'scoop', username_lowercase = 'scoop', username_skeleton = NULL
       WHERE uid = $1`,
      [zed.id],
    );
    assert.equal((await settled(db)).length, 1, 'the look-alikes of the first test, told again');
    const { rows } = await db.pool.query(`SELECT username_skeleton FROM ${ACCOUNTS} WHERE uid = $1`, [
      zed.id,
    ]);
    assert.deepEqual(rows, [{ username_skeleton: 'scoop' }]);
    await assert.rejects(
      db.store.createUser(namedUser('\u0455\u0441\u043e\u043e\u0440'), null),
      (error: AuthError) => error.code === 'user_already_exists',
    );
  });
});

/**
 * Migration 41: the skeletons migration 37 stored by the rule before (confusables.txt 10.0.0, ASCII
 * `I` read as `l` before case folding, `rn` as `m`) are computed again by today's: names the old
 * rule kept apart that look alike are told to an operator, and names it merged are apart.
 */
describe('PostgreSQL: user names skeletons computed again by the current rule (migration 41)', () => {
  const db = useTestDatabase({ migrateThrough: 39 });

  it('replaces every stored skeleton, keeps the oldest of two look-alikes, and refuses new ones', async () => {
    // As the rule before stored them: Amie looked like Arnie (rn → m) and had none; іvan (Cyrillic і)
    // and раураӏ (palochka, `i` in Unicode 10) had their own beside Ivan (`lvan`) and paypal.
    const before: [string, string | null][] = [
      ['Arnie', 'arnie'],
      ['Amie', null],
      ['Ivan', 'lvan'],
      ['\u0456van', 'ivan'],
      ['paypal', 'paypal'],
      ['\u0440\u0430\u0443\u0440\u0430\u04cf', 'paypai'],
    ];
    const stored = [];
    for (const [username, skeleton] of before) {
      const { id } = await db.store.createUser(namedUser(`placeholder${stored.length}`), null);
      stored.push({ uid: id, username, skeleton });
    }
    await db.pool.query(
      `UPDATE ${ACCOUNTS} a SET username = b.username, username_lowercase = lower(b.username),
         username_skeleton = b.skeleton
       FROM jsonb_to_recordset($1::jsonb) AS b(uid uuid, username text, skeleton text) WHERE a.uid = b.uid`,
      [JSON.stringify(stored)],
    );
    assert.ok((await migrate(db.pool, db.names)).includes(41));
    const { rows } = await db.pool.query<{ id: number; username: string; username_skeleton: string | null }>(
      `SELECT id, username, username_skeleton FROM ${ACCOUNTS} ORDER BY id`,
    );
    assert.deepEqual(
      rows.map((row) => [row.username, row.username_skeleton]),
      [
        ['Arnie', 'arnie'],
        ['Amie', 'amie'],
        ['Ivan', 'ivan'],
        ['\u0456van', null],
        ['paypal', 'paypal'],
        ['\u0440\u0430\u0443\u0440\u0430\u04cf', null],
      ],
    );
    const [ivan, cyrillicIvan, paypal, cyrillicPaypal] = [2, 3, 4, 5].map((index) => rows[index]!.id);
    assert.deepEqual(await settled(db), [
      `restauth: 2 user name(s) look like another user's (UTS #39 confusables), kept; new look-alikes of ` +
        `either are refused; consider renaming: user ${cyrillicIvan} "іvan" looks like user ${ivan} "Ivan"; ` +
        `user ${cyrillicPaypal} "раураӏ" looks like user ${paypal} "paypal"`,
    ]);
    for (const lookalike of ['\u0410mie', '\u04c0van', '\u0440\u0430\u0443\u0440\u0430l']) {
      await assert.rejects(
        db.store.createUser(namedUser(lookalike), null),
        (error: AuthError) => error.code === 'user_already_exists',
        lookalike,
      );
    }
    assert.equal((await db.store.createUser(namedUser('lvan'), null)).username, 'lvan');
  });
});
