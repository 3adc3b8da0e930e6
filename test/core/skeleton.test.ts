import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFUSABLES_VERSION } from '../../src/core/confusables-overlay.js';
import { lookalikeKey, nameSkeleton, namesCollide } from '../../src/core/skeleton.js';
import { asciiConfusables } from '../support/ascii-confusables.js';

/** Whether two names are one by the look-alike rule. */
const alike = (first: string, second: string) => nameSkeleton(first) === nameSkeleton(second);

describe('nameSkeleton: the look-alike rule of user names', () => {
  it('reads the strokes of current confusables.txt as l or I: the palochka is no longer i', () => {
    assert.equal(CONFUSABLES_VERSION, '17.0.0');
    // Unicode 10.0.0 (the package's data) gave U+04CF `i`: раураӏ passed beside paypal.
    assert.ok(alike('\u0440\u0430\u0443\u0440\u0430\u04cf', 'paypal'));
    // U+04CF, U+0406, U+04C0, U+01C0, U+2223, U+05C0, U+0661, U+0399: each a stroke, among small letters l.
    for (const stroke of ['\u04cf', '\u0406', '\u04c0', '\u01c0', '\u2223', '\u05c0', '\u0661', '\u0399'])
      assert.ok(alike(`a${stroke}ex`, 'alex'), `U+${stroke.codePointAt(0)!.toString(16)}`);
  });

  it('reads a stroke as I where a capital stands, and l where a small letter does', () => {
    assert.ok(alike('\u04c0van', 'Ivan'), 'a capital stroke opening a name: Ӏvan');
    assert.ok(alike('\u0406VAN', 'IVAN'), 'before capitals: ІVAN');
    assert.ok(alike('\u0420\u0410\u0423\u0420\u0410\u04c0', 'PAYPAI'), 'after capitals at the end: РАУРАӀ');
    assert.ok(alike('\u04cfeo', 'leo'), 'a small stroke opening a name: ӏeo');
    assert.ok(alike('A\u04cfex', 'Alex'), 'after a capital, before small letters: Aӏex');
    assert.ok(!alike('\u04c0van', 'lvan'));
    assert.ok(!alike('\u04cfeo', 'Ieo'));
  });

  it('compares case-insensitively after the look: іvan (Cyrillic і) is Ivan, whose login is ivan', () => {
    assert.ok(alike('\u0456van', 'Ivan'));
    assert.ok(alike('\u0456\u0455\u0430', 'ISA'));
    assert.ok(alike('\u0430\u0406\u0435\u0445', 'alex'), 'аІех: the capital І among small letters is l');
    assert.ok(alike('\u0410L\u0415\u0425', 'alex'), 'АLЕХ: Cyrillic capitals');
    assert.ok(alike('\u041d\u0435llo', 'hello'), 'Неllo: Cyrillic Н shows as H, compared as h');
  });

  it('keeps ASCII names apart unless their login keys meet, and catches their twins from elsewhere', () => {
    for (const [first, second] of [
      ['Arnie', 'Amie'],
      ['modern', 'rnodern'],
      ['bill', 'bi11'],
      ['Ivan', 'lvan'],
      ['Al', 'AI'],
      ['bob', 'b0b'],
      ['Neill', 'Neil1'],
    ])
      assert.ok(!alike(first!, second!), `${first} and ${second}`);
    assert.ok(alike('ALICE', 'alice'));
    assert.ok(alike('\u0410mie', 'Amie'), 'Cyrillic А');
    assert.ok(
      alike('\u{118e3}odern', 'modern'),
      'WARANG CITI DIGIT THREE, whose prototype is rn, reads as m',
    );
    assert.ok(!alike('\u{118e3}odern', 'rnodern'));
  });

  it('leaves accents, transliterations and what shows nothing as they look', () => {
    assert.ok(!alike('Zo\u00eb', 'Zoe'));
    assert.ok(alike('Zo\u00eb', 'Zoe\u0308'), 'composed or not, ë is ë');
    assert.ok(!alike('\u0418\u0432\u0430\u043d', 'Ivan'));
    assert.ok(alike('alex\u034f', 'alex'));
    assert.ok(alike('pay\u3164', 'pay'));
  });

  it('takes a character that looks like several ASCII letters for each: ǀgor is Igor and lgor', () => {
    // One reading of a stroke missed the others: U+01C0 (Latin, so no mixed script) beside Igor.
    assert.ok(namesCollide('\u01c0gor', 'Igor'));
    assert.ok(namesCollide('\u01c0gor', 'lgor'));
    assert.ok(namesCollide('bob\u2223', 'bob1'), 'DIVIDES (Common) beside a digit one');
    assert.ok(namesCollide('b\u3007b', 'b0b'), 'IDEOGRAPHIC NUMBER ZERO beside a digit zero');
    assert.ok(namesCollide('\u0251rnie', 'Amie'), 'Latin alpha: ɑrnie reads as Amie as well as arnie');
    // Neither ASCII: a Cyrillic small palochka and a Greek capital iota, each before omicrons.
    assert.ok(namesCollide('\u04cf\u043e\u043e', '\u0399\u03bf\u03bf'), 'ӏоо (Cyrillic) and Ιοο (Greek)');
    assert.notEqual(nameSkeleton('\u04cf\u043e\u043e'), nameSkeleton('\u0399\u03bf\u03bf'));
    // ASCII names stay apart although their whole skeletons meet.
    assert.equal(lookalikeKey('Igor'), lookalikeKey('lgor'));
    for (const [first, second] of [
      ['Igor', 'lgor'],
      ['Arnie', 'Amie'],
      ['bob', 'b0b'],
    ])
      assert.ok(!namesCollide(first!, second!), `${first} and ${second}`);
    assert.ok(!namesCollide('Zo\u00eb', 'Zoe'));
    assert.ok(!namesCollide('\u0418\u0432\u0430\u043d', 'Ivan'));
  });

  it('leaves out a mark that adds nothing seen: a dot above on i, ı or ȷ, a mark drawn twice', () => {
    assert.ok(alike('\u0131\u0307gor', 'igor'), 'ı̇gor: a dotless ı with a dot above');
    assert.ok(alike('i\u0307gor', 'igor'), 'i̇gor');
    assert.ok(alike('\u0237\u0307ohn', 'john'), 'ȷ̇ohn: a dotless ȷ with a dot above');
    assert.ok(alike('\u0131\u0307\u0307gor', 'igor'));
    assert.ok(alike('Zoe\u0308\u0308', 'Zo\u00eb'), 'a diaeresis over a diaeresis');
    assert.ok(!alike('\u1ecbgor', 'igor'), 'ịgor: a dot below shows');
    assert.ok(!alike('l\u0307gor', 'igor'));
    assert.ok(!alike('Zo\u00eb', 'Zoe'));
  });

  it('refuses every confusable of an ASCII letter or digit in its place, from confusables.txt', () => {
    const confusables = asciiConfusables();
    let swaps = 0;
    for (const [letter, points] of confusables)
      for (const point of points)
        for (const name of [`ab${letter}cd`, `${letter}gor`, `bob${letter}`, `AB${letter}CD`]) {
          swaps++;
          const swapped = name.replace(letter, point);
          assert.ok(
            namesCollide(name, swapped),
            `${swapped} (U+${point.codePointAt(0)!.toString(16)}) beside ${name}`,
          );
        }
    // Figures of this data (17.0.0), so that a list read wrong (empty, or ASCII only) shows.
    assert.equal(confusables.get('l')?.length, 27);
    assert.ok(swaps > 2_000, `${swaps}`);
  });
});
