import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  checkEmail,
  checkUsername,
  INVALID_EMAIL,
  isEmailLogin,
  loginKey,
  roleNameFor,
} from '../../src/core/identity.js';

/** Strings with the characters normalisation is about: look-alikes, compatibility forms, spaces, cases. */
const TRICKY = [
  'k',
  'K',
  '\u212A',
  'ß',
  'ẞ',
  'ss',
  'ς',
  'σ',
  'Σ',
  'ı',
  'İ',
  'i',
  'ﬁ',
  'Å',
  '\u212B',
  'å',
  'a\u030A',
  'ａ',
  'Ａ',
  '①',
  '\u00A0',
  ' ',
  '\u3000',
  '\t',
  'ǅ',
  'ǆ',
  'Ǆ',
  'ͅ',
  'ΐ',
  'ﬀ',
  '@',
  '.',
  '-',
  '_',
];
const trickyString = fc.oneof(
  fc.string({ unit: fc.constantFrom(...TRICKY), maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

describe('identity: one normalisation of logins', () => {
  it('loginKey is idempotent: the key of a key is itself', () => {
    fc.assert(
      fc.property(trickyString, (value) => {
        const key = loginKey(value);
        assert.equal(loginKey(key), key);
      }),
      { numRuns: 5000 },
    );
  });

  it('logins differing only by case, width, compatibility form or outer spaces have one key', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), minLength: 1 }),
        (name) => {
          const variants = [
            name.toUpperCase(),
            ` ${name}\t`,
            name.replace(/k/gu, '\u212A'),
            toFullWidth(name),
          ];
          for (const variant of variants)
            assert.equal(loginKey(variant), loginKey(name), JSON.stringify(variant));
        },
      ),
    );
  });

  it('folds what JavaScript and PostgreSQL lower-casing disagree on', () => {
    assert.equal(loginKey('\u212Aate'), 'kate', 'the Kelvin sign is k');
    assert.equal(loginKey('KATE'), 'kate');
    assert.equal(loginKey('Straße'), loginKey('STRASSE'));
    assert.equal(loginKey('ＤＡＮＡ'), 'dana');
    assert.equal(roleNameFor('\u212Aate'), roleNameFor('kate'));
  });

  it('a login with @ is an address, any other a name', () => {
    assert.equal(isEmailLogin('dana@corp.test'), true);
    assert.equal(isEmailLogin('dana'), false);
    assert.throws(() => checkUsername('DANA@CORP.TEST', /.*/u), { code: 'validation_failed', message: /@/u });
    assert.throws(
      () => checkUsername('ＤＡＮＡ＠corp.test', /.*/u),
      { message: /@/u },
      'a full-width @ is @',
    );
    assert.throws(() => checkUsername('a\u0000b', /.*/u), { code: 'validation_failed' });
    assert.throws(() => checkUsername('   ', /.*/u), { code: 'validation_failed' });
    assert.equal(checkUsername('  Zoë ', /.*/u), 'Zoë', 'trimmed, case kept');
  });

  it('accepts addresses a mail transport reads as written, refuses the others as GoTrue does', () => {
    for (const address of ['dana@corp.test', 'Dana.Smith+tag@Mail.Corp.Test', "o'hara@x.io", 'a@b']) {
      assert.equal(checkEmail(address), loginKey(address), address);
    }
    assert.equal(checkEmail('  DANA@CORP.TEST '), 'dana@corp.test');
    for (const address of [
      '<mallory@evil.test>corp.io',
      'xx:;x@x.x',
      'a@b@c.d',
      '"quoted"@x.io',
      'dana@corp.test\u0000',
      'dana @corp.test',
      'dana@-corp.test',
      'dana@corp..test',
      'dana@',
      '@corp.test',
      'dana,bob@corp.test',
      'd\u00e9j\u00e0@corp.test',
    ]) {
      assert.throws(
        () => checkEmail(address),
        { code: 'validation_failed', message: INVALID_EMAIL },
        address,
      );
    }
    assert.throws(() => checkEmail(''), { message: 'An email address is required' });
    assert.throws(() => checkEmail(`${'a'.repeat(251)}@x.io`), { message: 'An email address is too long' });
  });
});

function toFullWidth(value: string): string {
  return value.replace(/[a-z0-9]/gu, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0));
}
