import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bcrypt from 'bcrypt';
import type { AuthError } from '../../src/core/errors.js';
import { PasswordHasher, type PasswordPolicy } from '../../src/core/passwords.js';
import { testPasswordPolicy } from '../support/password-policy.js';

const policy = (overrides: Partial<PasswordPolicy> = {}): PasswordPolicy =>
  testPasswordPolicy({ bcryptRounds: 4, rehashOnSignIn: true, minLength: 8, concurrency: 0, ...overrides });

describe('PasswordHasher', () => {
  it('hashes with argon2id and the OWASP parameters, and verifies', async () => {
    const hasher = new PasswordHasher(policy());
    const hash = await hasher.hash('correct horse');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await hasher.verify('correct horse', hash), true);
    assert.equal(await hasher.verify('wrong horse', hash), false);
    assert.equal(hasher.needsRehash(hash), false);
  });

  it('verifies $2a$, $2b$ and $2y$ bcrypt hashes whatever the configured algorithm, and asks to upgrade them', async () => {
    const hasher = new PasswordHasher(policy());
    const b = await bcrypt.hash('imported pw', 4);
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const hash = prefix + b.slice(4);
      assert.equal(await hasher.verify('imported pw', hash), true, prefix);
      assert.equal(await hasher.verify('imported px', hash), false, prefix);
      assert.equal(hasher.needsRehash(hash), true, prefix);
    }
  });

  it('with bcrypt configured, hashes at the configured cost and asks to rehash argon2 or other costs', async () => {
    const hasher = new PasswordHasher(policy({ algorithm: 'bcrypt', bcryptRounds: 5 }));
    const hash = await hasher.hash('some password');
    assert.match(hash, /^\$2b\$05\$/);
    assert.equal(hasher.needsRehash(hash), false);
    assert.equal(hasher.needsRehash(await bcrypt.hash('x', 4)), true);
    const argon = await new PasswordHasher(policy()).hash('some password');
    assert.equal(await hasher.verify('some password', argon), true);
    assert.equal(hasher.needsRehash(argon), true);
  });

  it('keeps every stored hash as it is unless re-hashing on sign-in is configured', async () => {
    const hasher = new PasswordHasher(policy({ rehashOnSignIn: false }));
    // GoTrue's: $2a$, cost 10.
    const gotrue = '$2a$' + (await bcrypt.hash('gotrue pw', 10)).slice(4);
    assert.equal(await hasher.verify('gotrue pw', gotrue), true);
    assert.equal(hasher.needsRehash(gotrue), false);
    assert.equal(hasher.needsRehash(await bcrypt.hash('x', 4)), false);
    assert.equal(hasher.needsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaA'), false);
  });

  it("verifies an unknown user's password against a dummy hash of the configured algorithm and parameters", async () => {
    // What a real account's hash costs to verify: the same algorithm, memory, iterations or cost.
    for (const overrides of [
      {},
      { algorithm: 'bcrypt' as const, bcryptRounds: 10 },
      { algorithm: 'bcrypt' as const },
    ]) {
      const hasher = new PasswordHasher(policy(overrides));
      try {
        const dummy = await hasher.prepare();
        assert.equal(hasher.needsRehash(dummy), false, `${JSON.stringify(overrides)}: ${dummy}`);
        const before = hasher.verifications;
        await hasher.verifyDummy('any password');
        assert.equal(hasher.verifications, before + 1);
      } finally {
        await hasher.close();
      }
    }
  });

  it('answers false, not an error, for garbage hashes', async () => {
    const hasher = new PasswordHasher(policy());
    assert.equal(await hasher.verify('x', 'not-a-hash'), false);
    assert.equal(await hasher.verify('x', '$argon2id$garbage'), false);
    assert.equal(await hasher.verify('x', '$2b$10$short'), false);
  });

  it('enforces the policy: length in characters, bcrypt 72-byte limit, pattern', () => {
    const hasher = new PasswordHasher(policy({ passwordPattern: '\\d' }));
    assert.throws(() => hasher.assertAcceptable('short1'), { code: 'weak_password' });
    assert.throws(() => hasher.assertAcceptable('a'.repeat(65) + '1'), { code: 'validation_failed' });
    assert.throws(() => hasher.assertAcceptable('no digits here'), { code: 'weak_password' });
    hasher.assertAcceptable('ünïcødé-pässwörd-1');
    const bcryptHasher = new PasswordHasher(policy({ algorithm: 'bcrypt', maxLength: 1024 }));
    assert.throws(() => bcryptHasher.assertAcceptable('é'.repeat(40)), /72 bytes/);
  });

  it('sheds load with over_capacity and a Retry-After once the queue is full', async () => {
    const hasher = new PasswordHasher(policy({ concurrency: 1, maxQueue: 2 }));
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.hash('queued password')));
    const rejected = results.filter((r) => r.status === 'rejected');
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
    assert.equal(rejected.length, 3);
    for (const r of rejected) {
      const error = (r as PromiseRejectedResult).reason as AuthError;
      assert.equal(error.code, 'over_capacity');
      assert.equal(error.status, 503);
      assert.equal(error.retryAfter, 1);
    }
  });
});
