import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomSecret } from '../../src/core/secrets.js';

describe('randomSecret', () => {
  it('gives 256 random bits as base64url, never the same twice, across refills of its entropy', () => {
    // 1,000 draws: several refills of the 128-secret buffer, so a refill that reused bytes would show.
    const secrets = Array.from({ length: 1000 }, () => randomSecret());
    for (const secret of secrets) {
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/u);
      assert.equal(Buffer.from(secret, 'base64url').length, 32);
    }
    assert.equal(new Set(secrets).size, secrets.length);
    // Not a zeroed (used-up) slice: an all-zero secret would mean a slice was handed out twice.
    assert.ok(!secrets.includes(Buffer.alloc(32).toString('base64url')));
  });
});
