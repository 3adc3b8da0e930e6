import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formFields } from '../../src/lib/form-fields.js';

test('a field given more than once keeps every value in order, and names the first repeated field', () => {
  const { fields, repeated } = formFields('b=1&a=x&b=2&c=&b=3&a=y');
  assert.deepEqual({ ...fields }, { b: ['1', '2', '3'], a: ['x', 'y'], c: '' });
  assert.equal(repeated, 'b');
});

test('__proto__ and constructor are fields like any other', () => {
  const { fields } = formFields('__proto__=p&constructor=c&__proto__=q');
  assert.equal(Object.getPrototypeOf(fields), null);
  assert.deepEqual(fields['__proto__'], ['p', 'q']);
  assert.equal(fields['constructor'], 'c');
});

test('a body of one field repeated up to the body limit keeps each value once', () => {
  // 25,000 repeats fill the default 100 KB bodyLimit (each was a copy of the list: quadratic).
  const { fields } = formFields(Array.from({ length: 25_000 }, (_, i) => `a=${i}`).join('&'));
  const values = fields['a'] as string[];
  assert.equal(values.length, 25_000);
  assert.equal(values[0], '0');
  assert.equal(values[24_999], '24999');
});
