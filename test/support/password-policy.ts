import type { PasswordPolicy } from '../../src/core/passwords.js';

/**
 * A hashing policy for tests of the hasher itself: argon2id, a single hashing thread, any password of
 * 1–64 characters, no rehash. Each test names only what it is about (the algorithm, the pool's size...).
 */
export function testPasswordPolicy(overrides: Partial<PasswordPolicy> = {}): PasswordPolicy {
  return {
    algorithm: 'argon2id',
    bcryptRounds: 10,
    rehashOnSignIn: false,
    minLength: 1,
    maxLength: 64,
    passwordPattern: '.*',
    maxQueue: 16,
    concurrency: 1,
    ...overrides,
  };
}
