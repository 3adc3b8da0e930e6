import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  encodeGoTrueRefreshToken,
  goTrueHmacKey,
  parseGoTrueRefreshToken,
  signedBy,
} from '../../src/stores/postgres/gotrue-refresh-token.js';

/**
 * GoTrue's v2 refresh tokens (supabase/auth internal/crypto/refresh_tokens.go):
 * what parses, what its session's key proves, and what is thrown away. The
 * fixed tokens were made by an independent implementation (Python's hmac,
 * hashlib and base64 over the layout of docs/postgres-schema.md), so the codec
 * is checked against the format, not only against itself.
 */
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const SESSION = '8c7f4b5e-2d3a-4f6b-9e1c-0a1b2c3d4e5f';
const KNOWN: [bigint, string][] = [
  [0n, 'AIx_S14tOk9rnhwKGyw9Tl8AzW4C6OBrSHYwZF6CHsTWLQiLxNo'],
  [300n, 'AIx_S14tOk9rnhwKGyw9Tl-sAt4xtbO7-JdmNciNYKUwahNijxtR'],
  [2n ** 63n - 1n, 'AIx_S14tOk9rnhwKGyw9Tl___________38XCl9bpD8p9_2HA4V8K2v_KmDivw'],
];

const uuid = fc.uuid().map((value) => value.toLowerCase());
const counter = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n });
const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes));

/** A token's bytes with a valid checksum over `body` (what garbage must get past before the signature). */
function withChecksum(body: Buffer): string {
  const sum = createHash('sha256').update(body).digest().subarray(0, 4);
  return Buffer.concat([body, sum]).toString('base64url');
}

describe("GoTrue's v2 refresh tokens", () => {
  it('reads the tokens of an independent implementation, and makes the same ones', () => {
    for (const [count, token] of KNOWN) {
      const parsed = parseGoTrueRefreshToken(token);
      assert.ok(parsed, token);
      assert.equal(parsed.sessionId, SESSION);
      assert.equal(parsed.counter, count);
      assert.equal(signedBy(parsed, KEY), true);
      assert.equal(encodeGoTrueRefreshToken({ sessionId: SESSION, counter: count }, KEY), token);
    }
  });

  it('reads back what it encodes, signed by its key and by no other', () => {
    fc.assert(
      fc.property(uuid, counter, key, key, (sessionId, count, own, other) => {
        const parsed = parseGoTrueRefreshToken(encodeGoTrueRefreshToken({ sessionId, counter: count }, own));
        assert.ok(parsed);
        assert.equal(parsed.sessionId, sessionId);
        assert.equal(parsed.counter, count);
        assert.equal(signedBy(parsed, own), true);
        assert.equal(signedBy(parsed, other), own.equals(other));
      }),
    );
  });

  it('throws away a token with any byte changed: the checksum fails, or the signature does', () => {
    fc.assert(
      fc.property(
        uuid,
        counter,
        key,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (sessionId, count, own, at, flip) => {
          const bytes = Buffer.from(
            encodeGoTrueRefreshToken({ sessionId, counter: count }, own),
            'base64url',
          );
          bytes[at % bytes.length]! ^= flip;
          const parsed = parseGoTrueRefreshToken(bytes.toString('base64url'));
          // A change the checksum misses (1 in 2^32) still fails the signature.
          assert.ok(parsed === null || !signedBy(parsed, own));
        },
      ),
    );
  });

  it('throws away a token whose changed bytes carry a fresh checksum: the signature fails', () => {
    fc.assert(
      fc.property(
        uuid,
        counter,
        key,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (sessionId, count, own, at, flip) => {
          const bytes = Buffer.from(
            encodeGoTrueRefreshToken({ sessionId, counter: count }, own),
            'base64url',
          );
          const body = bytes.subarray(0, bytes.length - 4);
          body[at % body.length]! ^= flip;
          const parsed = parseGoTrueRefreshToken(withChecksum(body));
          assert.ok(parsed === null || !signedBy(parsed, own));
        },
      ),
    );
  });

  it('refuses a wrong checksum, another version, a short or long token, a malformed counter', () => {
    const token = Buffer.from(KNOWN[1]![1], 'base64url');
    const wrongSum = Buffer.from(token);
    wrongSum[wrongSum.length - 1]! ^= 1;
    assert.equal(parseGoTrueRefreshToken(wrongSum.toString('base64url')), null);

    const body = token.subarray(0, token.length - 4);
    const version1 = Buffer.from(body);
    version1[0] = 1;
    assert.equal(parseGoTrueRefreshToken(withChecksum(version1)), null);
    assert.equal(parseGoTrueRefreshToken(withChecksum(body.subarray(0, body.length - 1))), null);
    assert.equal(parseGoTrueRefreshToken(withChecksum(Buffer.concat([body, Buffer.of(0)]))), null);
    // A counter whose varint never ends, and one past 64 bits.
    const endless = Buffer.concat([body.subarray(0, 17), Buffer.alloc(11, 0xff), body.subarray(19)]);
    assert.equal(parseGoTrueRefreshToken(withChecksum(endless)), null);
    const tooLarge = Buffer.concat([
      body.subarray(0, 17),
      Buffer.alloc(9, 0xff),
      Buffer.of(0x02),
      randomBytes(16),
    ]);
    assert.equal(parseGoTrueRefreshToken(withChecksum(tooLarge)), null);
    // 2^63 fits in a uvarint but not in GoTrue's int64 counter.
    const twoTo63 = Buffer.concat([
      body.subarray(0, 17),
      Buffer.alloc(9, 0x80),
      Buffer.of(0x01),
      randomBytes(16),
    ]);
    assert.equal(parseGoTrueRefreshToken(withChecksum(twoTo63)), null);
  });

  it('never throws, whatever the text: garbage, padding, base64 rather than base64url, v1 tokens', () => {
    for (const text of ['', '!', 'a', KNOWN[0]![1] + '=', KNOWN[0]![1].replaceAll('_', '/'), 'abcdefghijkl'])
      assert.equal(parseGoTrueRefreshToken(text), null, text);
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        const parsed = parseGoTrueRefreshToken(text);
        assert.ok(parsed === null || typeof parsed.counter === 'bigint');
      }),
    );
  });

  it("reads a session's unencrypted key, and no encrypted or malformed one", () => {
    assert.deepEqual(goTrueHmacKey('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8'), KEY);
    const encrypted = JSON.stringify({ key_id: 'k1', alg: 'aes-gcm-hkdf', data: 'AAAA', nonce: 'BBBB' });
    for (const stored of [encrypted, '', KEY.toString('base64'), KEY.subarray(1).toString('base64url')])
      assert.equal(goTrueHmacKey(stored), null, stored);
  });
});
