import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { AuthError } from '../../src/core/errors.js';
import { loginKey } from '../../src/core/identity.js';
import type { Store } from '../../src/core/ports/store.js';
import { nameSkeleton, namesCollide } from '../../src/core/skeleton.js';
import { openFileBackendIn } from '../support/file-backend.js';
import { asciiConfusables } from '../support/ascii-confusables.js';
import { namedUser } from '../support/named-user.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * The look-alike rule (core/skeleton.ts, namesCollide) is one rule on both stores: the file store's
 * index and PostgreSQL's unique `username_skeleton` with its `username_lookalike` refuse the same
 * names, each exactly when an earlier name collides with the new one. Names are drawn from letters that look alike across
 * scripts and within ASCII (strokes, rn and m, 0 and O, Cyrillic and Greek twins, a combining
 * diaeresis, a character that shows nothing).
 */
const LETTERS = [
  ...['a', 'l', 'I', '1', 'i', '|', '0', 'o', 'O', 'r', 'n', 'm', 'e', 'x', 'p', 'y', 'c', 'L', '_'],
  ...['\u0430', '\u0435', '\u043e', '\u0440', '\u0443', '\u0445', '\u0441'], // Cyrillic а е о р у х с
  ...['\u0410', '\u0415', '\u041e', '\u0420', '\u0425'], // Cyrillic А Е О Р Х
  ...['\u0456', '\u0406', '\u04cf', '\u04c0', '\u01c0', '\u0399', '\u03b9', '\u2223'], // strokes and i's
  ...['\u0308', '\u00eb', '\u034f', '\u2170', '\u{118e3}'], // diaeresis, ë, CGJ, ⅰ, a prototype rn
  ...['\u0307', '\u0131', '\u0237'], // a dot above, dotless ı and ȷ
];
const name = fc
  .array(fc.constantFrom(...LETTERS), { minLength: 1, maxLength: 5 })
  .map((points) => points.join(''));

type Outcome = 'stored' | 'taken';

async function outcome(store: Store, username: string): Promise<Outcome> {
  try {
    await store.createUser(namedUser(username), null);
    return 'stored';
  } catch (error) {
    if ((error as AuthError).code === 'user_already_exists') return 'taken';
    throw error;
  }
}

describe('user names that look alike: one rule on the file store and PostgreSQL', () => {
  const db = useTestDatabase();
  let dir: string;
  let fileStore: Store;
  let closeFile: () => Promise<void>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-lookalike-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [] }));
    const backend = await openFileBackendIn(dir);
    fileStore = backend.store;
    closeFile = backend.close;
  });
  after(async () => {
    await closeFile();
    await rm(dir, { recursive: true, force: true });
  });

  it('each store refuses a name exactly when an earlier one collides with it', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(name, { minLength: 2, maxLength: 8 }), async (names) => {
        // Each run's names after a prefix of their own: apart from every other run's.
        const prefix = `run${run++}_`;
        const held: string[] = [];
        for (const drawn of names) {
          const username = prefix + drawn;
          const expected: Outcome = held.some((earlier) => namesCollide(earlier, username))
            ? 'taken'
            : 'stored';
          assert.equal(
            await outcome(fileStore, username),
            expected,
            `file store: ${JSON.stringify(username)}`,
          );
          assert.equal(
            await outcome(db.store, username),
            expected,
            `PostgreSQL: ${JSON.stringify(username)}`,
          );
          if (expected === 'stored') held.push(username);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('an ASCII name with any confusable of one of its characters in its place is taken on both stores', async () => {
    const confusables = [...asciiConfusables()];
    const swap = fc
      .constantFrom(...confusables)
      .chain(([letter, points]) => fc.tuple(fc.constant(letter), fc.constantFrom(...points)));
    const tail = fc.stringMatching(/^[a-z0-9]{0,4}$/u);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(tail, swap, tail, async (head, [letter, point], rest) => {
        // Each run's names end apart from every other run's; the swap may open a name (`ǀgor`).
        const suffix = `_s${run++}`;
        const ascii = `${head}${letter}${rest}${suffix}`;
        const swapped = `${head}${point}${rest}${suffix}`;
        for (const [store, kind] of [
          [fileStore, 'file store'],
          [db.store, 'PostgreSQL'],
        ] as const) {
          assert.equal(await outcome(store, ascii), 'stored', `${kind}: ${ascii}`);
          assert.equal(await outcome(store, swapped), 'taken', `${kind}: ${swapped} beside ${ascii}`);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('a user renamed to a look-alike of another user is refused, and renamed to its own look-alike is not', async () => {
    for (const [store, kind] of [
      [fileStore, 'file store'],
      [db.store, 'PostgreSQL'],
    ] as const) {
      const ingrid = await store.createUser(namedUser('Ingrid'), null);
      const other = await store.createUser(namedUser('renamed_later'), null);
      await assert.rejects(
        store.updateUser(other.id, { username: '\u01c0ngrid' }),
        (error: AuthError) => error.code === 'user_already_exists',
        kind,
      );
      assert.equal((await store.updateUser(ingrid.id, { username: '\u01c0ngrid' })).username, 'ǀngrid', kind);
    }
  });

  it('two ASCII names are one only by their login keys; a non-ASCII name meets the ASCII it shows', () => {
    // Mostly the ASCII that confusables.txt maps (I, 1 and | to l, 0 to O, m to rn), and any ASCII.
    const ascii = fc.oneof(
      fc
        .array(fc.constantFrom('I', 'l', '1', '|', 'i', 'L', '0', 'O', 'o', 'm', 'r', 'n', 'a'), {
          minLength: 1,
          maxLength: 6,
        })
        .map((points) => points.join('')),
      fc.stringMatching(/^[ -~]{1,8}$/u),
    );
    fc.assert(
      fc.property(ascii, ascii, (first, second) => {
        assert.equal(nameSkeleton(first) === nameSkeleton(second), loginKey(first) === loginKey(second));
      }),
      { numRuns: 5_000 },
    );
    // Each Cyrillic twin of an ASCII letter, in place of it, meets the ASCII name.
    const twins: [string, string][] = [
      ['a', '\u0430'],
      ['e', '\u0435'],
      ['o', '\u043e'],
      ['p', '\u0440'],
      ['c', '\u0441'],
      ['x', '\u0445'],
      ['y', '\u0443'],
    ];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...twins), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (pairs, at) => {
          const latin = pairs.map(([letter]) => letter).join('');
          const swapped = pairs.map(([letter, twin], index) => (index === at % pairs.length ? twin : letter));
          assert.equal(nameSkeleton(swapped.join('')), nameSkeleton(latin));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
