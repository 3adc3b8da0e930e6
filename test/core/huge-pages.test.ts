import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { hugePagesUnavailable } from '../../src/core/huge-pages.js';
import { testPasswordPolicy } from '../support/password-policy.js';

const run = promisify(execFile);

const policy = testPasswordPolicy();

const MACHINE_SETTING = '/sys/kernel/mm/transparent_hugepage/enabled';

/** Why a test needing the kernel's per-process THP flag cannot run here, or null. */
function noThpFlag(): string | false {
  if (process.platform !== 'linux') return 'transparent huge pages are Linux';
  if (!existsSync(MACHINE_SETTING)) return 'this kernel has no transparent huge pages';
  return false;
}

/**
 * Three argon2id verifications through PasswordHasher in a process of its own, with `env`: answers
 * what it told the operator. A process of its own, since a process's THP flag cannot be set back.
 */
async function warningsOfThreeLogins(env: NodeJS.ProcessEnv): Promise<string[]> {
  const script = `
    import { PasswordHasher } from ${JSON.stringify(import.meta.resolve('../../src/core/passwords.js'))};
    const warnings = [];
    const hasher = new PasswordHasher(${JSON.stringify(policy)}, (message) => warnings.push(message));
    const hash = await hasher.hash('correct horse battery staple');
    await hasher.verify('correct horse battery staple', hash);
    await hasher.verify('wrong', hash);
    await hasher.close();
    console.log(JSON.stringify(warnings));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env,
    timeout: 60_000,
  });
  return JSON.parse(stdout) as string[];
}

describe('argon2 hashing without transparent huge pages is told to the operator', () => {
  it(
    'MIMALLOC_ALLOW_THP=0 (the addon disables THP for the whole process as it loads): one warning',
    { skip: noThpFlag() },
    async () => {
      const warnings = await warningsOfThreeLogins({ ...process.env, MIMALLOC_ALLOW_THP: '0' });
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0]!, /transparent huge pages are disabled for this process/);
      assert.match(warnings[0]!, /twice the CPU/);
    },
  );

  it(
    'with huge pages at hand nothing is said (and on a machine set to never, that is said)',
    { skip: noThpFlag() },
    async () => {
      const env = { ...process.env };
      delete env.MIMALLOC_ALLOW_THP;
      const warnings = await warningsOfThreeLogins(env);
      if (readFileSync(MACHINE_SETTING, 'utf8').includes('[never]')) {
        assert.equal(warnings.length, 1, JSON.stringify(warnings));
        assert.match(warnings[0]!, /off on this machine/);
      } else {
        assert.deepEqual(warnings, []);
      }
    },
  );

  it('reads the process flag first, then the machine setting; says nothing where neither is readable', async () => {
    const root = await mkdtemp(join(tmpdir(), 'restauth-thp-'));
    const put = async (path: string, text: string) => {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    };
    try {
      assert.equal(hugePagesUnavailable(root), null, 'not Linux: nothing to read');
      await put('sys/kernel/mm/transparent_hugepage/enabled', 'always [madvise] never\n');
      await put('proc/self/status', 'Name:\tnode\nTHP_enabled:\t1\nThreads:\t7\n');
      assert.equal(hugePagesUnavailable(root), null);
      await put('sys/kernel/mm/transparent_hugepage/enabled', 'always madvise [never]\n');
      assert.match(hugePagesUnavailable(root)!, /off on this machine/);
      await put('proc/self/status', 'Name:\tnode\nTHP_enabled:\t0\nThreads:\t7\n');
      assert.match(hugePagesUnavailable(root)!, /disabled for this process/);
      await put('sys/kernel/mm/transparent_hugepage/enabled', '[always] madvise never\n');
      assert.match(hugePagesUnavailable(root)!, /disabled for this process/);
      // A kernel before 5.0 has no THP_enabled line: the machine's setting decides.
      await put('proc/self/status', 'Name:\tnode\nThreads:\t7\n');
      assert.equal(hugePagesUnavailable(root), null);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
