import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  credentialsFromDisk,
  credentialsPieces,
  credentialsText,
} from '../../src/stores/file/credentials-dates.js';
import { jsonPieces } from '../../src/stores/file/json-pieces.js';

/**
 * A compaction writes credentials.json in pieces (jsonPieces), which must join to exactly the text
 * written whole (JSON.stringify with two spaces, credentialsText): the file is byte for byte the
 * same, and an older restauth reads it (a rollback).
 */
const anyJson = fc.jsonValue({ maxDepth: 4 });
/** Members JSON.stringify leaves out of an object and writes as null in an array. */
const skipped = fc.constantFrom(undefined, () => 1);
const member = fc.oneof({ weight: 6, arbitrary: anyJson }, { weight: 1, arbitrary: skipped });
const container = fc.oneof(
  fc.dictionary(fc.string(), member, { maxKeys: 12 }),
  fc.array(member, { maxLength: 12 }),
  fc.constant({ toJSON: () => 'its own text' }),
  member,
);

describe('jsonPieces', () => {
  it('joins to JSON.stringify(doc, null, 2) + "\\n" for any document and piece size', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), container, { maxKeys: 6 }),
        fc.integer({ min: 1, max: 5 }),
        (doc, perPiece) => {
          assert.equal([...jsonPieces(doc, perPiece)].join(''), `${JSON.stringify(doc, null, 2)}\n`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('ends a piece of large members early, whatever their count (a db.json of large records)', () => {
    const record = { text: 'x'.repeat(100_000) };
    const doc = { posts: Array.from({ length: 20 }, () => record) };
    const pieces = [...jsonPieces(doc, 500)];
    assert.equal(pieces.join(''), `${JSON.stringify(doc, null, 2)}\n`);
    // 256 KiB reached at the third record of 100,000 characters: a piece ends there.
    assert.ok(pieces.length >= 6, `${pieces.length} pieces`);
    assert.ok(Math.max(...pieces.map((piece) => piece.length)) < 400_000);
  });

  it('credentialsPieces joins to credentialsText, dates as the file has them, a piece per so many entries', () => {
    const at = '2026-01-02T03:04:05.678Z';
    const doc = JSON.parse(
      JSON.stringify({
        passwords: [
          { sub: 'u1', password: 'hash' },
          { sub: 'u2', password: 'hash' },
        ],
        accounts: Object.fromEntries(
          Array.from({ length: 7 }, (_, i) => [
            `u${i}`,
            { username: `u${i}`, createdAt: at, updatedAt: '2026-02-30T00:00:00.000Z', lastSignInAt: null },
          ]),
        ),
        sessions: { __proto__: { userId: 'u1', createdAt: at, amr: [{ method: 'password', at }] } },
        refreshTokens: {},
        oneTimeTokens: { t: { createdAt: at } },
        settings: 'kept as it is',
      }),
    ) as Record<string, unknown>;
    credentialsFromDisk(doc);
    assert.equal(typeof (doc.accounts as Record<string, { createdAt: unknown }>).u1!.createdAt, 'number');
    const pieces = [...credentialsPieces(doc, 3)];
    assert.equal(pieces.join(''), credentialsText(doc));
    // Seven accounts, three to a piece: two full pieces, then the rest with the end of the file.
    assert.equal(pieces.length, 3);
  });
});
