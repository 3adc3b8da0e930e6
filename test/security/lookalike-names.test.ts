import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { suiteStore } from '../support/postgres.js';

/**
 * A name wholly in one script passed the mixed-script rule while it read as another user's name:
 * `аІех` and `рау` (all Cyrillic) beside `alex` and `pay`, `ѕсоор` beside `scoop`, `раураӏ`
 * (palochka) beside `paypal`, `іvan` (Cyrillic і) beside `Ivan`: a second account that reads as
 * the first person (in json-data-server the name is the owner shown on every record). Now a name
 * whose UTS #39 skeleton (core/skeleton.ts) is a user's is taken as that user's name is: the same
 * status and error code, on both stores. Names that do not look alike still register: an accent
 * shows (`Zoë`), a Cyrillic name is not its Latin transliteration (`Иван`, `Ivan`), and two ASCII
 * names are told apart by their login keys (`Arnie` and `Amie`, `bill` and `bi11`).
 */

const PASSWORD = 'a real passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`user names that look like a user's are taken (${storeKind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
          dialects: { jsonDataServer: {}, postgrestAuth: {} },
        },
      });
    });
    after(async () => {
      await t.close();
      await store.drop();
    });

    const register = (url: string, username: string) =>
      t.app.inject({ method: 'POST', url, payload: { username, password: PASSWORD } });

    it('a whole-script or ASCII look-alike of a name: answered as the taken name is, and not stored', async () => {
      for (const name of ['alex', 'pay', 'scoop', 'cocoa', 'bill', 'Ivan', 'modern', 'paypal', 'Isa', 'Ice'])
        assert.equal((await register('/auth/register', name)).statusCode, 200, name);
      const taken = await register('/auth/register', 'alex');
      assert.notEqual(taken.statusCode, 200);
      for (const name of [
        '\u0430\u0406\u0435\u0445', // аІех: Cyrillic а, І (as a sans-serif capital I reads as l), е, х
        '\u0440\u0430\u0443', // рау
        '\u0455\u0441\u043e\u043e\u0440', // ѕсоор
        '\u0441\u043e\u0441\u043e\u0430', // сосоа beside cocoa
        '\u0440\u0430\u0443\u0440\u0430\u04cf', // раураӏ: the small palochka reads as l (Unicode 15.1+)
        '\u0456\u0455\u0430', // іѕа (Cyrillic) beside Isa, whose login key is isa
        '\u0406\u0405\u0410', // ІЅА: a Cyrillic capital І before capitals reads as I
        '\u04c0\u0441\u0435', // Ӏсе beside Ice: the capital palochka opening a name reads as I
        // Characters that show nothing after a letter and that the hidden-character rule lets through.
        'alex\u034f', // COMBINING GRAPHEME JOINER
        'pay\u3164', // HANGUL FILLER (NFKC: U+1160)
        'scoop\ufe0f', // VARIATION SELECTOR-16
      ]) {
        const refused = await register('/auth/register', name);
        assert.equal(refused.statusCode, taken.statusCode, `${JSON.stringify(name)}: ${refused.body}`);
        assert.equal(refused.body, taken.body);
        assert.equal(await t.services.store.findUserByUsername(name), null, name);
      }
      // postgrest-auth's sign-up takes ASCII names: told apart by their login keys only.
      assert.equal((await register('/auth/users', 'will')).statusCode, 201);
      assert.notEqual((await register('/auth/users', 'WILL')).statusCode, 201);
      assert.equal((await register('/auth/users', 'wi11')).statusCode, 201);
    });

    it('a character that looks like several ASCII letters is taken for each, also between two scripts; a mark unseen is nothing', async () => {
      // U+01C0 and U+0196 are Latin, U+2223 and U+3007 of every script: the mixed-script rule lets
      // them beside ASCII, and a stroke read as one letter (l here) missed the other (I, 1).
      for (const [name, lookalikes] of [
        ['Igor', ['\u01c0gor', '\u0196gor']], // ǀgor, Ɩgor
        ['bob1', ['bob\u2223']], // bob∣ (DIVIDES)
        ['Amiel', ['\u0251rniel']], // ɑrniel: m is rn
        ['Ott0', ['Ott\u3007']], // IDEOGRAPHIC NUMBER ZERO
        ['\u04cf\u043e\u043e', ['\u0399\u03bf\u03bf']], // ӏоо (Cyrillic), then Ιοο (Greek)
        // A mark that adds nothing seen: a dot above on a dotless ı or ȷ, or on i; a mark twice.
        ['irma', ['\u0131\u0307rma', 'i\u0307rma']],
        ['jade', ['\u0237\u0307ade']],
        ['Chlo\u00eb', ['Chloe\u0308\u0308']],
      ] as const) {
        const first = await register('/auth/register', name);
        assert.equal(first.statusCode, 200, `${JSON.stringify(name)}: ${first.body}`);
        const taken = await register('/auth/register', name);
        for (const lookalike of lookalikes) {
          const refused = await register('/auth/register', lookalike);
          assert.equal(refused.statusCode, taken.statusCode, `${JSON.stringify(lookalike)}: ${refused.body}`);
          assert.equal(refused.body, taken.body);
          assert.equal(await t.services.store.findUserByUsername(lookalike), null, lookalike);
        }
      }
    });

    it('a name that shows nothing, or a blank glyph in a name: 400 validation_failed', async () => {
      for (const [name, message] of [
        ['\u3164', /must not be empty/u], // HANGUL FILLER
        ['\u3164\u034f\u3164', /must not be empty/u],
        ['alex\u2800', /invisible characters/u], // BRAILLE PATTERN BLANK
        ['alex\u{16fe4}', /invisible characters/u], // KHITAN SMALL SCRIPT FILLER
        ['al\u{1d159}ex', /invisible characters/u], // MUSICAL SYMBOL NULL NOTEHEAD
        ['\u{1d159}\u3164', /must not be empty/u],
        ['\u2800\u2800', /must not be empty/u],
      ] as const) {
        const refused = await register('/auth/register', name);
        assert.equal(refused.statusCode, 400, `${JSON.stringify(name)}: ${refused.body}`);
        assert.match(refused.body, message);
      }
    });

    it('names that do not look alike register beside each other', async () => {
      for (const name of [
        'Zoe',
        'Zoë',
        '\u0418\u0432\u0430\u043d', // Иван beside Ivan
        '\u6771\u4eac', // 東京
        '\u4eac\u90fd', // 京都
        'alexa',
        'ivana',
        // ASCII names beside ASCII names that a skeleton would merge: honest pairs.
        'Arnie',
        'Amie', // rn → m
        'rnodern',
        'bi11', // 1 → l
        'lvan', // I → l before case folding
        'Al',
        'AI',
        'Neill',
        'Neil1',
        'b0b',
        'bob',
      ]) {
        const registered = await register('/auth/register', name);
        assert.equal(registered.statusCode, 200, `${JSON.stringify(name)}: ${registered.body}`);
      }
    });
  });
}
