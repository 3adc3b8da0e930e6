import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HASHING_NICE } from '../../src/core/hashing-pool.js';
import { PasswordHasher, type PasswordPolicy } from '../../src/core/passwords.js';

const run = promisify(execFile);

const policy = (overrides: Partial<PasswordPolicy> = {}): PasswordPolicy => ({
  algorithm: 'bcrypt',
  bcryptRounds: 12,
  rehashOnSignIn: false,
  minLength: 1,
  maxLength: 64,
  passwordPattern: '.*',
  maxQueue: 16,
  concurrency: 1,
  ...overrides,
});

/** The nice value of each thread of this process (Linux: field 19 of /proc/self/task/<tid>/stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('the hashing pool', () => {
  it("never holds libuv's thread pool: a file-system call finishes while a hash runs, even with one pool thread", async () => {
    // UV_THREADPOOL_SIZE must be set before the process starts its pool: a process of its own.
    // Were the hash a job of libuv's single thread, the stat would wait behind it and come second.
    const script = `
      import { stat } from 'node:fs/promises';
      import { PasswordHasher } from ${JSON.stringify(import.meta.resolve('../../src/core/passwords.js'))};
      const hasher = new PasswordHasher(${JSON.stringify(policy())});
      const hash = await hasher.hash('correct horse battery staple');
      const events = [];
      // One job (bcrypt's hash is two: a salt, then the hash), on the hashing thread before the stat starts.
      const hashed = hasher.verify('correct horse battery staple', hash).then(() => events.push('hash'));
      await new Promise((resolve) => setImmediate(resolve));
      await stat('.').then(() => events.push('stat'));
      await hashed;
      await hasher.close();
      console.log(JSON.stringify(events));`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    });
    assert.deepEqual(JSON.parse(stdout), ['stat', 'hash']);
  });

  it(
    'runs its threads below the event loop (a higher nice value), on Linux',
    { skip: process.platform !== 'linux' && 'nice values are read from /proc' },
    async () => {
      const hasher = new PasswordHasher(policy({ bcryptRounds: 4 }));
      try {
        const before = threadNices();
        await hasher.hash('correct horse battery staple');
        const after = threadNices();
        assert.ok(!before.includes(HASHING_NICE), `no thread ran at nice ${HASHING_NICE} before`);
        assert.ok(after.includes(HASHING_NICE), `a thread runs at nice ${HASHING_NICE}: ${after.join(' ')}`);
        assert.equal(Math.min(...after), 0, 'the event loop keeps its priority');
      } finally {
        await hasher.close();
      }
    },
  );

  it('spends a verification on a stored hash it cannot read, as on a real one', async () => {
    // GoTrue stores '' for a user without a password: answering that at once, without the work a
    // verification takes, would tell by its speed that the account exists.
    const hasher = new PasswordHasher(policy({ bcryptRounds: 4 }));
    try {
      await hasher.prepare();
      for (const unreadable of ['', 'not-a-hash', 'plain text password']) {
        const before = hasher.verifications;
        assert.equal(await hasher.verify('plain text password', unreadable), false);
        assert.equal(hasher.verifications, before + 1, `a verification for ${JSON.stringify(unreadable)}`);
      }
    } finally {
      await hasher.close();
    }
  });
});
