import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthError } from '../../src/core/errors.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { nameSkeleton } from '../../src/core/skeleton.js';
import { refuseLookalike, settleNameSkeletons } from '../../src/stores/postgres/name-skeletons.js';
import { namedUser } from '../support/named-user.js';
import { realServerOnly, testRoles } from '../support/postgres.js';
import { insertUserFromBefore } from '../support/sessions-before.js';
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
      // By SQL: today's store writes the columns of migration 48 too.
      const { id } = await insertUserFromBefore(db.pool, {
        username: `placeholder${stored.length}`,
        role: testRoles.authenticated,
      });
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

/**
 * Stores names as restauth before migration 48 did: a skeleton (today's rule unless given), no whole
 * skeleton (lookalikeKey).
 */
async function storeFromBefore(
  db: ReturnType<typeof useTestDatabase>,
  names: (string | [name: string, skeleton: string])[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const entry of names) {
    const [username, skeleton] = typeof entry === 'string' ? [entry, nameSkeleton(entry)] : entry;
    const { id } = await insertUserFromBefore(db.pool, { username, role: testRoles.authenticated });
    await db.pool.query(`UPDATE ${ACCOUNTS} SET username_skeleton = $2 WHERE uid = $1`, [id, skeleton]);
    ids.push(id);
  }
  return ids;
}

const refused = (error: AuthError) => error.code === 'user_already_exists';

/**
 * Migration 48: a character that looks like several ASCII letters was read as one (core/skeleton.ts,
 * lookalikeKey): `ǀgor` (U+01C0) beside `Igor`, `bob∣` beside `bob1`, `ɑrnie` beside `Amie`. The
 * names a database holds get their whole skeletons; such pairs stored before are told at a start.
 */
describe('PostgreSQL: user names also by their whole skeletons (migration 48)', () => {
  const db = useTestDatabase({ migrateThrough: 44 });

  it('gives every stored name its whole skeleton, tells the look-alikes kept, and refuses new ones', async () => {
    // ı̇rma (a dotless ı with a dot above) had the skeleton i̇rma before a dot on i showed as nothing.
    await storeFromBefore(db, [
      ...['Igor', '\u01c0gor', 'bob1', 'bob\u2223', 'Amie', '\u0251rnie', 'irma'],
      ['\u0131\u0307rma', 'i\u0307rma'],
    ]);
    assert.ok((await migrate(db.pool, db.names)).includes(48));
    const { rows } = await db.pool.query(
      `SELECT id, username_lookalike, username_skeleton_of FROM ${ACCOUNTS} ORDER BY id`,
    );
    assert.deepEqual(
      rows.map((row) => [row.username_lookalike, row.username_skeleton_of]),
      [
        ['lgor', 'Igor'],
        ['lgor', null],
        ['bobl', 'bob1'],
        ['bobl', null],
        ['arnie', 'Amie'],
        ['arnie', null],
        ['irrna', 'irma'],
        ['irrna', null],
      ],
    );
    const [igor, strokeIgor, bob, strokeBob, amie, alphaAmie, irma, dottedIrma] = rows.map(
      (row) => row.id as number,
    );
    assert.deepEqual(await settled(db), [
      `restauth: 4 user name(s) look like another user's (UTS #39 confusables), kept; new look-alikes of ` +
        `either are refused; consider renaming: user ${strokeIgor} "ǀgor" looks like user ${igor} "Igor"; ` +
        `user ${strokeBob} "bob∣" looks like user ${bob} "bob1"; user ${alphaAmie} "ɑrnie" looks like user ${amie} "Amie"; ` +
        `user ${dottedIrma} "ı̇rma" looks like user ${irma} "irma"`,
    ]);
    // Ɩgor (LATIN CAPITAL LETTER IOTA); ǀgor's look-alike lgor is ASCII beside ASCII Igor.
    await assert.rejects(db.store.createUser(namedUser('\u0196gor'), null), refused);
    await assert.rejects(db.store.createUser(namedUser('\u0251mie'), null), refused);
    // lgor and Igor are two ASCII names, but ǀgor, kept, looks like lgor too.
    await assert.rejects(db.store.createUser(namedUser('lgor'), null), refused);
    assert.equal((await db.store.createUser(namedUser('Igors'), null)).username, 'Igors');
  });
});

/**
 * A rolling upgrade: an instance of older code, still running after the migration, writes a name
 * without its whole skeleton, or with the skeleton of an older rule (before 41, `Ivan` was `lvan`).
 * Such a row's `username_skeleton_of` is not its name, or its `username_skeleton_rule` not today's:
 * the newer code compares it by today's rule until a start computes it again.
 */
describe('PostgreSQL: names an older instance wrote after the migration', () => {
  const db = useTestDatabase();

  it('are compared by the current rule at once, and given its skeletons at the next start', async () => {
    const zed = await db.store.createUser(namedUser('zed'), null);
    // The older instance renames zed to Ivan, with the skeleton of the rule before 41 ...
    await db.pool.query(
      `UPDATE ${ACCOUNTS} SET username = 'Ivan', username_lowercase = 'ivan', username_skeleton = 'lvan'
       WHERE uid = $1`,
      [zed.id],
    );
    // ... and stores Igor, without a whole skeleton.
    await storeFromBefore(db, ['Igor']);
    // An instance of a rule before (numbered 47 here) that wrote every column renames ola to Oleg.
    const ola = await db.store.createUser(namedUser('ola'), null);
    await db.pool.query(
      `UPDATE ${ACCOUNTS} SET username = 'Oleg', username_lowercase = 'oleg', username_skeleton = 'o1eg',
         username_lookalike = 'o1eg', username_skeleton_of = 'Oleg', username_skeleton_rule = 47
       WHERE uid = $1`,
      [ola.id],
    );
    // ... and takes vera's name away, leaving the columns it does not know.
    const vera = await db.store.createUser(namedUser('vera'), null);
    await db.pool.query(
      `UPDATE ${ACCOUNTS} SET username = NULL, username_lowercase = NULL, username_skeleton = NULL WHERE uid = $1`,
      [vera.id],
    );
    assert.equal((await db.store.createUser(namedUser('Vera'), null)).username, 'Vera');
    for (const lookalike of ['\u0456van', '\u01c0van', '\u01c0gor', '\u041eleg'])
      await assert.rejects(db.store.createUser(namedUser(lookalike), null), refused, lookalike);
    assert.deepEqual(await settled(db), []);
    const { rows } = await db.pool.query(
      `SELECT username, username_skeleton, username_lookalike FROM ${ACCOUNTS}
       WHERE username IS DISTINCT FROM username_skeleton_of OR username_skeleton_rule <> 48
         OR username IN ('Ivan', 'Igor', 'Oleg') OR (username IS NULL AND username_lookalike IS NOT NULL) ORDER BY id`,
    );
    assert.deepEqual(rows, [
      { username: 'Ivan', username_skeleton: 'ivan', username_lookalike: 'lvan' },
      { username: 'Igor', username_skeleton: 'igor', username_lookalike: 'lgor' },
      { username: 'Oleg', username_skeleton: 'oleg', username_lookalike: 'oleg' },
    ]);
    await assert.rejects(db.store.createUser(namedUser('\u01c0gor'), null), refused);
  });

  it('of a name and its look-alike no unique index holds, written at once, the second waits and is taken', async (t) => {
    const skip = realServerOnly();
    if (skip) return t.skip(skip);
    const writer = await db.pool.connect();
    const observer = await db.pool.connect();
    try {
      // The first writes Inga inside its transaction, as createUser does, and has not committed.
      await writer.query('BEGIN');
      await refuseLookalike(writer, ACCOUNTS, 'Inga', null);
      await writer.query(
        `WITH u AS (
           INSERT INTO auth.users (instance_id, id, aud, role, created_at, updated_at)
           VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', $2, now(), now())
           RETURNING id
         )
         INSERT INTO ${ACCOUNTS} (uid, username, username_lowercase, username_skeleton, username_lookalike,
           username_skeleton_of)
         SELECT id, $1, 'inga', 'inga', 'lnga', $1 FROM u`,
        ['Inga', testRoles.authenticated],
      );
      let settledSecond = false;
      const second = db.store.createUser(namedUser('\u01c0nga'), null).then(
        () => 'stored',
        (error: AuthError) => error.code,
      );
      void second.finally(() => (settledSecond = true));
      // Polled (no event tells): the second waits for the first's lock, or, without it, is stored.
      const waiting = async () => {
        while (!settledSecond) {
          const { rows } = await observer.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
          );
          if (rows[0]!.n > 0) return 'waiting';
          await new Promise((resolve) => setImmediate(resolve));
        }
        return 'not waiting';
      };
      assert.equal(await Promise.race([second, waiting()]), 'waiting');
      await writer.query('COMMIT');
      assert.equal(await second, 'user_already_exists');
    } finally {
      await writer.query('ROLLBACK').catch(() => {});
      writer.release();
      observer.release();
    }
  });
});
