import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arrayLiteral } from '../../src/stores/postgres/array-literal.js';
import { hashSecret, randomSecret } from '../../src/core/secrets.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * The refresh batch's arrays are written as literals (array-literal.ts), not by the pg driver: what
 * PostgreSQL reads from one must be the array given, element for element, and what it could read
 * otherwise (a comma, a brace, a quote, a space, the word NULL, an empty string) is refused.
 */
describe('arrayLiteral', () => {
  const db = useTestDatabase({ max: 1, migrateThrough: 0 });

  it('is read by PostgreSQL as the array of hashes or integers it was given', async () => {
    const hashes = Array.from({ length: 64 }, () => hashSecret(randomSecret()));
    const times = [0, 1, -1, Date.parse('2026-12-01T05:00:00.123Z'), Number.MAX_SAFE_INTEGER];
    const { rows } = await db.pool.query<{ hashes: string[]; times: string[]; at: Date }>(
      `SELECT $1::text[] AS hashes, $2::bigint[]::text[] AS times,
         timestamptz 'epoch' + ($2::bigint[])[4] * interval '1 millisecond' AS at`,
      [arrayLiteral(hashes), arrayLiteral(times)],
    );
    assert.deepEqual(rows[0]!.hashes, hashes);
    assert.deepEqual(rows[0]!.times.map(Number), times);
    assert.equal(rows[0]!.at.toISOString(), '2026-12-01T05:00:00.123Z');
    const { rows: empty } = await db.pool.query<{ n: number }>('SELECT cardinality($1::text[]) AS n', [
      arrayLiteral([]),
    ]);
    assert.equal(empty[0]!.n, 0);
  });

  it('refuses what an array literal would read as something else', () => {
    for (const value of ['a,b', '{a}', 'a"b', 'a\\b', 'a b', '', 'NULL', 'null', 'é', 1.5, NaN, 2 ** 53]) {
      assert.throws(() => arrayLiteral(['abc', value]), /base64url strings and integers/, String(value));
    }
  });
});
