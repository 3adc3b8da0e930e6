import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration, seconds } from '../../src/config/duration.js';
import { ConfigError } from '../../src/config/errors.js';

test('units read as the ms package reads them (jsonwebtoken expiresIn)', () => {
  const cases: Array<[string | number, number]> = [
    ['30s', 30],
    ['1m', 60],
    ['15m', 900],
    ['2h', 7200],
    ['1d', 86400],
    ['1w', 604800],
    ['1y', 31557600],
    ['2 days', 172800],
    ['10 minutes', 600],
    ['1.5h', 5400],
    ['2000ms', 2],
    ['1H', 3600],
    [' 7d ', 604800],
    [3600, 3600],
    [0, 0],
  ];
  for (const [input, expected] of cases) {
    assert.deepEqual(parseDuration(input), { seconds: expected }, `${JSON.stringify(input)}`);
  }
});

test('a numeric string is seconds (not milliseconds as jsonwebtoken read it)', () => {
  assert.deepEqual(parseDuration('3600'), { seconds: 3600 });
});

test('bad durations are refused with a clear reason', () => {
  for (const input of [
    'soon',
    '',
    '5 fortnights',
    '-1d',
    -5,
    '1m30s',
    true,
    null,
    {},
    Number.POSITIVE_INFINITY,
  ]) {
    const result = parseDuration(input);
    assert.ok('error' in result, `${String(input)} should be refused`);
    assert.match(result.error, /duration like "30s"/);
  }
  assert.deepEqual(parseDuration('1500ms'), { error: 'must be a whole number of seconds' });
  assert.deepEqual(parseDuration(2.5), { error: 'must be a whole number of seconds' });
});

test('seconds() names the source and the key', () => {
  assert.equal(seconds('1d', 'auth.jwtRefreshExpiresIn', 'config.json'), 86400);
  assert.throws(
    () => seconds('tomorrow', 'auth.jwtRefreshExpiresIn', 'config.json'),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message.startsWith('config.json: auth.jwtRefreshExpiresIn must be a duration') &&
      error.message.endsWith('(got "tomorrow")'),
  );
});
