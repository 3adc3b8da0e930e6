import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HASHING_NICE, HashingPool, HashJobError } from '../../src/core/hashing-pool.js';
import { PasswordHasher, type PasswordPolicy } from '../../src/core/passwords.js';
import { testPasswordPolicy } from '../support/password-policy.js';

const run = promisify(execFile);

const policy = (overrides: Partial<PasswordPolicy> = {}): PasswordPolicy =>
  testPasswordPolicy({ algorithm: 'bcrypt', bcryptRounds: 12, ...overrides });

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

  it('lines up jobs on a busy thread rather than starting more than its threads, each answered with its own result', async () => {
    const pool = new HashingPool(1);
    try {
      const password = 'correct horse battery staple';
      const hash = (await pool.run({ op: 'bcrypt-hash', password, rounds: 4 })) as string;
      // Posted together to the one thread, answered in order, a refused job among them.
      const answers = await Promise.allSettled([
        pool.run({ op: 'bcrypt-verify', password, hash }),
        pool.run({ op: 'bcrypt-verify', password: 'wrong', hash }),
        pool.run({ op: 'argon2-verify', password, hash: 'not an argon2 hash' }),
        pool.run({ op: 'bcrypt-hash', password, rounds: 5 }),
      ]);
      assert.equal(pool.size, 1);
      assert.deepEqual(answers[0], { status: 'fulfilled', value: true });
      assert.deepEqual(answers[1], { status: 'fulfilled', value: false });
      assert.equal(answers[2]!.status, 'rejected');
      assert.ok((answers[2] as PromiseRejectedResult).reason instanceof HashJobError);
      assert.equal(answers[3]!.status, 'fulfilled');
      assert.match((answers[3] as PromiseFulfilledResult<string>).value, /^\$2b\$05\$/u);
    } finally {
      await pool.close();
    }
  });

  it('spreads jobs over its threads before lining them up, and answers the lined-up jobs after close', async () => {
    const pool = new HashingPool(2);
    const password = 'correct horse battery staple';
    const jobs = Array.from({ length: 4 }, () => pool.run({ op: 'bcrypt-hash', password, rounds: 4 }));
    assert.equal(pool.size, 2);
    // Closing waits for nothing: the threads at work answer what they hold, then end.
    await pool.close();
    const hashes = (await Promise.all(jobs)) as string[];
    assert.equal(new Set(hashes).size, 4);
    for (const hash of hashes) assert.match(hash, /^\$2b\$04\$/u);
    await assert.rejects(pool.run({ op: 'bcrypt-hash', password, rounds: 4 }), /closed/u);
    assert.equal(pool.size, 0);
  });

  it('admits as many jobs before shedding load as its threads and queue allow, lined-up jobs included', async () => {
    const hasher = new PasswordHasher(policy({ bcryptRounds: 4, concurrency: 2, maxQueue: 3 }));
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () => hasher.hash('queued password')),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
      assert.equal(results.filter((r) => r.status === 'rejected').length, 3);
    } finally {
      await hasher.close();
    }
  });
});
