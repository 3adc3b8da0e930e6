import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { hashSync } from '@node-rs/argon2';
import { PasswordHasher } from '../../src/core/passwords.js';
import { testPasswordPolicy } from '../support/password-policy.js';

const run = promisify(execFile);

const policy = testPasswordPolicy();

/** A salt and a digest in the form the hashes below need, taken from real hashes. */
const BCRYPT_SALT_AND_DIGEST = 'TEmAR8dhjMajBg3HPZkFEuSRHUJZ/t1gbq5Fa0G0mQsFsxoh7eWPG';
const ARGON2_SALT_AND_DIGEST = 'W0C5DmtiEH1Xx59o6MXnRw$LD014cAqpwtEQsETQ2xtN3BGaWUXE6c5s3foxqzJeN8';

/**
 * Verifies `hash` in a process of its own, through PasswordHasher, and answers what verify said and
 * the process's peak memory. A verification past the bound would hold its thread for days: the
 * process is ended after a minute (far beyond the milliseconds a refused hash takes), failing the test.
 */
async function verifyAlone(hash: string): Promise<{ matched: boolean; peakMiB: number }> {
  const script = `
    import { PasswordHasher } from ${JSON.stringify(import.meta.resolve('../../src/core/passwords.js'))};
    const hasher = new PasswordHasher(${JSON.stringify(policy)});
    const matched = await hasher.verify('correct horse battery staple', ${JSON.stringify(hash)});
    await hasher.close();
    console.log(JSON.stringify({ matched, peakMiB: process.resourceUsage().maxRSS / 1024 }));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    timeout: 60_000,
  });
  return JSON.parse(stdout) as { matched: boolean; peakMiB: number };
}

describe('a stored hash asking more work than the bound is refused, not computed', () => {
  it('bcrypt cost 30 (2^20 times cost 10): the sign-in fails at once instead of holding a hashing thread for a day', async () => {
    // Not 31: the native library answers that one false at once.
    const { matched } = await verifyAlone(`$2b$30$${BCRYPT_SALT_AND_DIGEST}`);
    assert.equal(matched, false);
  });

  it('argon2id with 4,294,967,295 passes: refused', async () => {
    const { matched } = await verifyAlone(
      `$argon2id$v=19$m=19456,t=4294967295,p=1$${ARGON2_SALT_AND_DIGEST}`,
    );
    assert.equal(matched, false);
  });

  it('argon2id over 4 GiB of memory: refused without taking it', async () => {
    const { matched, peakMiB } = await verifyAlone(
      `$argon2id$v=19$m=4194304,t=1,p=1$${ARGON2_SALT_AND_DIGEST}`,
    );
    assert.equal(matched, false);
    // A verification of it takes 4 GiB; the process itself about 100 MiB.
    assert.ok(peakMiB < 1024, `peak ${peakMiB} MiB`);
  });

  for (const params of ['m=19456,m=4194304,t=1,p=1', 't=4294967295,p=1,m=19456']) {
    it(`argon2id naming a parameter twice, or in another order, past the bound (${params}): refused`, async () => {
      const { matched, peakMiB } = await verifyAlone(`$argon2id$v=19$${params}$${ARGON2_SALT_AND_DIGEST}`);
      assert.equal(matched, false);
      assert.ok(peakMiB < 1024, `peak ${peakMiB} MiB`);
    });
  }

  it('hashes within the bound still verify: RFC 9106 argon2id 64 MiB × 3 passes, 4 lanes, and bcrypt cost 12', async () => {
    const hasher = new PasswordHasher(policy);
    try {
      const password = 'correct horse battery staple';
      const rfc = hashSync(password, { algorithm: 2, memoryCost: 65536, timeCost: 3, parallelism: 4 });
      assert.equal(await hasher.verify(password, rfc), true);
      const bcryptHasher = new PasswordHasher({ ...policy, algorithm: 'bcrypt', bcryptRounds: 12 });
      const bcrypt = await bcryptHasher.hash(password).finally(() => bcryptHasher.close());
      assert.equal(await hasher.verify(password, bcrypt), true);
      assert.equal(await hasher.verify('another password', rfc), false);
    } finally {
      await hasher.close();
    }
  });

  it('tells the operator, at most once a minute, with the parameters and never the salt or digest', async () => {
    const warnings: string[] = [];
    // Only the stored hash's warnings: a machine without transparent huge pages is told of too (huge-pages.test.ts).
    const hasher = new PasswordHasher(policy, (message) => {
      if (message.startsWith('a stored password hash')) warnings.push(message);
    });
    try {
      // 293 MiB: past the bound, yet computed in a fraction of a second where it is not refused.
      const hash = `$argon2id$v=19$m=300000,t=1,p=1$${ARGON2_SALT_AND_DIGEST}`;
      assert.equal(await hasher.verify('x', hash), false);
      assert.equal(await hasher.verify('x', hash), false);
      // Unreadable is not over the bound: the library answers it, nothing to tell.
      assert.equal(await hasher.verify('x', '$argon2id$garbage'), false);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]!.includes('($argon2id$v=19$m=300000,t=1,p=1$)'), warnings[0]);
      assert.ok(!warnings[0]!.includes(ARGON2_SALT_AND_DIGEST.split('$')[0]!), warnings[0]);
    } finally {
      await hasher.close();
    }
  });

  it('tells again at once after the clock was set back a day, then once a minute as it now runs', async (context) => {
    const warnings: string[] = [];
    const hasher = new PasswordHasher(policy, (message) => {
      if (message.startsWith('a stored password hash')) warnings.push(message);
    });
    try {
      const hash = `$argon2id$v=19$m=300000,t=1,p=1$${ARGON2_SALT_AND_DIGEST}`;
      // Only Date is mocked: the hashing thread's messages run as they do.
      const now = Date.now();
      context.mock.timers.enable({ apis: ['Date'], now });
      assert.equal(await hasher.verify('x', hash), false);
      assert.equal(warnings.length, 1);
      // An NTP step back a day: the last warning is dated a day ahead. Read as "less than a minute
      // ago", it silenced the warning for the whole day while the user could not sign in.
      context.mock.timers.setTime(now - 24 * 3600 * 1000);
      assert.equal(await hasher.verify('x', hash), false);
      assert.equal(warnings.length, 2);
      context.mock.timers.setTime(now - 24 * 3600 * 1000 + 30_000);
      assert.equal(await hasher.verify('x', hash), false);
      assert.equal(warnings.length, 2, 'not again within the minute');
    } finally {
      context.mock.timers.reset();
      await hasher.close();
    }
  });
});
