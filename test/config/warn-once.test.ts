import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { tempDir } from '../support/config.js';

/**
 * Without a `warn` of its own, loadConfig writes its warnings to stderr. A process that loads the
 * same setup many times (a test file building one app per test) wrote the same lines each time,
 * and the test logs were full of RESTAUTH_RATE_LIMITS=off warnings that hid the new ones.
 */
test('a warning on stderr is written once per process; a different one still is', async () => {
  const written: string[] = [];
  const warn = mock.method(console, 'warn', (line: string) => void written.push(line));
  try {
    const env = {
      RESTAUTH_JWT_SECRET: 'warn-once-secret-0123456789abcdef-0123',
      RESTAUTH_RATE_LIMITS: 'off',
    };
    for (let i = 0; i < 3; i++) await loadConfig({ cwd: await tempDir(), env });
    const rateLimitLines = written.filter((line) => line.includes('RESTAUTH_RATE_LIMITS'));
    assert.equal(rateLimitLines.length, 2, `passwordGuesses and verify, once each:\n${written.join('\n')}`);

    // Another weakened protection is news: it is written though the others were said already.
    await loadConfig({ cwd: await tempDir(), env, overrides: { jwt: { clockTolerance: 3600 } } });
    assert.equal(written.filter((line) => line.includes('RESTAUTH_RATE_LIMITS')).length, 2);
    assert.ok(
      written.some((line) => line.includes('jwt.clockTolerance')),
      `the new warning is written:\n${written.join('\n')}`,
    );
  } finally {
    warn.mock.restore();
  }
});
