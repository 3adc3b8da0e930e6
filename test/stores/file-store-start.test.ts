import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openFileStore } from '../../src/stores/file/index.js';
import { createTestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';
import { spawnRestauth } from '../support/process.js';

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const storeConfig = (dir: string, dataFile = 'db.json') => ({
  type: 'file' as const,
  dataFile: join(dir, dataFile),
  credentialsFile: join(dir, 'credentials.json'),
  usersProp: 'users',
  userIdProp: 'id',
});

/** A json-data-server folder with two users: db.json and credentials.json as it writes them. */
async function folderWithUsers(dir: string): Promise<string> {
  await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: 'alice' }, { id: 'bob' }] }));
  const credentials = JSON.stringify({
    passwords: [
      { sub: 'alice', password: '$2b$10$aliceHashaliceHashaliceHashaliceHashaliceHashaliceHa' },
      { sub: 'bob', password: '$2b$10$bobHashbobHashbobHashbobHashbobHashbobHashbobHashbobH' },
    ],
  });
  await writeFile(join(dir, 'credentials.json'), credentials);
  return credentials;
}

/** Issue 10 finding 13 and issue 11 finding 9: one half of the store missing never costs the other half. */
describe('file store at start: a missing half is refused, nothing is deleted', () => {
  it('`restauth dbb.json` (a typo) beside a credentials.json with users refuses to start, naming both files', async () => {
    const dir = await tempDir('restauth-typo-');
    const credentials = await folderWithUsers(dir);
    const started = await spawnRestauth(dir, ['dbb.json'], {
      RESTAUTH_JWT_SECRET: 'test-secret-0123456789abcdef0123456789',
    }).catch((error: Error) => error);
    if (!(started instanceof Error)) {
      await started.stop();
      assert.fail(`restauth started on dbb.json:\n${started.output()}`);
    }
    assert.match(started.message, /exited \(1\) before listening/);
    assert.match(
      started.message,
      /dbb\.json does not exist, but .*credentials\.json holds the credentials of 2 user/,
    );
    assert.doesNotMatch(started.message, /\n\s+at /, 'one line, no stack');
    assert.equal(await readFile(join(dir, 'credentials.json'), 'utf8'), credentials, 'credentials untouched');
    assert.equal(existsSync(join(dir, 'dbb.json')), false, 'no empty dbb.json created');
    // Back on the right file, everyone can still sign in.
    const { store } = await openFileStore(storeConfig(dir));
    try {
      assert.match((await store.getPasswordHash('alice')) ?? '', /^\$2b\$10\$alice/);
      assert.match((await store.getPasswordHash('bob')) ?? '', /^\$2b\$10\$bob/);
    } finally {
      await store.close();
    }
  });

  it('a credentials.json lost after sign-ups (its audit log remains) is refused, naming both files, and not re-created', async () => {
    const dir = await tempDir('restauth-no-credentials-');
    const first = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      dir,
    });
    try {
      for (const username of ['alice', 'bob']) await registeredToken(first, username, `${username}-password`);
    } finally {
      await first.close();
    }
    await rm(join(dir, 'credentials.json'));
    await assert.rejects(
      createTestApp({ format: 'json-data-server', config: { auth: { passwordSalt: 4 } }, dir }),
      (error: NodeJS.ErrnoException) => {
        assert.match(
          error.message,
          /credentials\.json does not exist, but .*db\.json holds 2 user\(s\) under "users" and .*credentials\.audit\.jsonl shows/,
        );
        assert.equal(error.code, 'EREFUSED');
        return true;
      },
    );
    assert.equal(existsSync(join(dir, 'credentials.json')), false);
  });

  it('a fresh folder, a json-server db.json with users written by hand, or files holding no users start', async () => {
    const dir = await tempDir('restauth-fresh-');
    const { store } = await openFileStore(storeConfig(dir));
    await store.close();
    await rm(join(dir, 'db.json'));
    const again = await openFileStore(storeConfig(dir));
    await again.store.close();
    // Users by hand, never a password: credentials.json is created, and they are users without one.
    await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: 'alice' }] }));
    await rm(join(dir, 'credentials.json'));
    const third = await openFileStore(storeConfig(dir));
    try {
      assert.equal((await third.store.findUserById('alice'))?.id, 'alice');
    } finally {
      await third.store.close();
    }
    assert.ok(existsSync(join(dir, 'credentials.json')));
  });

  it('credentials without a user in db.json are reported and kept; a new user of that id inherits none of them', async () => {
    const dir = await tempDir('restauth-orphans-');
    await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: 'kept' }] }));
    await writeFile(
      join(dir, 'credentials.json'),
      JSON.stringify({
        passwords: [
          { sub: 'kept', password: 'h1' },
          { sub: 'orphan', password: 'h2' },
        ],
        sessions: {
          s1: {
            userId: 'orphan',
            createdAt: '2026-01-01T00:00:00.000Z',
            refreshedAt: '2026-01-01T00:00:00.000Z',
            notAfter: '2999-01-01T00:00:00.000Z',
            revokedAt: null,
            revokedReason: null,
            refreshSecret: 'x',
          },
        },
        refreshTokens: { t1: { sessionId: 's1', createdAt: '2026-01-01T00:00:00.000Z', rotatedAt: null } },
      }),
    );
    const warnings: string[] = [];
    const { store } = await openFileStore(storeConfig(dir), {
      info: () => {},
      warn: (m) => warnings.push(m),
    });
    try {
      assert.match(
        warnings.join('\n'),
        /holds credentials of 1 user\(s\) missing from .*db\.json \(kept, not removed\): "orphan"/,
      );
      const onDisk = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8'));
      assert.equal(onDisk.passwords.length, 2, 'nothing removed at open');
      assert.equal(await store.getPasswordHash('kept'), 'h1');
      // A json-data-server user added by hand (no account record) is a user, found by its id.
      assert.equal((await store.findUserByUsername('KEPT'))?.id, 'kept');

      const user = await store.createUser(
        { username: 'orphan', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
        'h3',
      );
      assert.equal(user.id, 'orphan');
      assert.equal(await store.getPasswordHash('orphan'), 'h3');
      assert.equal(await store.findSession('s1'), null, "the earlier user's session is not the new user's");
      assert.equal(await store.findRefreshToken('t1'), null);
    } finally {
      await store.close();
    }
  });
});

/** Issue 11 findings 9 and 10: what a crash or a damaged file leaves is dealt with at start, not at the first sign-up. */
describe('file store at start: crash leftovers and a damaged mail queue', () => {
  it('a damaged mail-queue.json refuses the start in one line naming the file, and is left as it is', async () => {
    const dir = await tempDir('restauth-damaged-queue-');
    await folderWithUsers(dir);
    await mkdir(join(dir, '.restauth'));
    const damaged = '{"version": 1, "mails": [{"id": "m1", "message": {"to": "a@b.test"';
    await writeFile(join(dir, '.restauth', 'mail-queue.json'), damaged);
    const started = await spawnRestauth(dir, [], {
      RESTAUTH_JWT_SECRET: 'test-secret-0123456789abcdef0123456789',
    }).catch((error: Error) => error);
    if (!(started instanceof Error)) {
      await started.stop();
      assert.fail(`restauth started on a damaged mail queue:\n${started.output()}`);
    }
    assert.match(started.message, /exited \(1\) before listening/);
    assert.match(
      started.message,
      /mail queue .*\.restauth\/mail-queue\.json is not valid JSON .*fix or move it/,
    );
    assert.doesNotMatch(started.message, /\n\s+at /, 'one line, no stack');
    assert.equal(await readFile(join(dir, '.restauth', 'mail-queue.json'), 'utf8'), damaged);
    // The store's lock was released: once the queue is moved away, the same folder starts.
    await rename(join(dir, '.restauth', 'mail-queue.json'), join(dir, 'mail-queue.json.damaged'));
    const t = await createTestApp({ format: 'restauth', dir });
    await t.close();
  });

  it('a credentials.json edited by hand into a shared login, a mistyped address or invalid JSON refuses in one line naming it', async () => {
    const dir = await tempDir('restauth-hand-edited-');
    await folderWithUsers(dir);
    const credentials = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')) as object;
    // An operator fixing bob's address typed alice's, in other case.
    const shared = JSON.stringify({
      ...credentials,
      accounts: { alice: { email: 'alice@example.com' }, bob: { email: 'Alice@Example.com' } },
    });
    const invalid = shared.slice(0, -1);
    // An address typed as a number crashed the start ("key.normalize is not a function"); a role or a
    // hash of the wrong type (pasted inside a list) made that user's every sign-in a 500.
    const parsed = credentials as { passwords: Array<{ sub: string; password: unknown }> };
    const mistyped = JSON.stringify({
      passwords: [
        parsed.passwords[0],
        { ...parsed.passwords[1], password: ['$argon2id$v=19$hand-pasted-hash'] },
      ],
      accounts: { alice: { email: 5, role: 7 } },
    });
    // A session and a refresh token typed wrong started without a word; its refresh was then a 500.
    const at = '2026-01-01T00:00:00.000Z';
    const mistypedSession = JSON.stringify({
      ...credentials,
      sessions: {
        's-1': {
          userId: 'alice',
          createdAt: at,
          refreshedAt: at,
          notAfter: 'next year',
          revokedAt: null,
          revokedReason: null,
          refreshSecret: ['hand-pasted-hash-of-a-secret'],
          amr: [{ method: 'password', at: 17 }, 'otp'],
        },
      },
      refreshTokens: { 'token-hash': { sessionId: 7, createdAt: at, rotatedAt: null } },
    });
    for (const [edit, refusal] of [
      [
        shared,
        /credentials\.json: users share a login .*refusing to start.*share the login "alice@example\.com"/,
      ],
      [invalid, /credentials\.json is not valid JSON/],
      [
        mistyped,
        /credentials\.json: fields of the wrong type .*refusing to start.*accounts\."alice"\.email is a number, not text; accounts\."alice"\.role is a number, not text; passwords\[1\]\.password is a list, not text/,
      ],
      [
        mistypedSession,
        /credentials\.json: fields of the wrong type .*refusing to start.*sessions\."s-1"\.notAfter is text, not a date; sessions\."s-1"\.refreshSecret is a list, not text; refreshTokens\."token-hash"\.sessionId is a number, not text; sessions\."s-1"\.amr\[1\] is text, not an object/,
      ],
    ] as const) {
      await writeFile(join(dir, 'credentials.json'), edit);
      const started = await spawnRestauth(dir, [], {
        RESTAUTH_JWT_SECRET: 'test-secret-0123456789abcdef0123456789',
      }).catch((error: Error) => error);
      if (!(started instanceof Error)) {
        await started.stop();
        assert.fail(`restauth started on a hand-edited credentials.json:\n${started.output()}`);
      }
      assert.match(started.message, /exited \(1\) before listening/);
      assert.match(started.message, refusal);
      // A mistyped field is named by its kind, never quoted: it may hold a password hash.
      assert.doesNotMatch(started.message, /hand-pasted-hash/);
      assert.doesNotMatch(started.message, /unexpected error|\n\s+at /, 'one line, no stack');
      assert.equal(
        await readFile(join(dir, 'credentials.json'), 'utf8'),
        edit,
        'the edit is left for the operator',
      );
    }
  });

  it("removes restauth's temp files and empty outbox files a crash left, and nothing else", async () => {
    const dir = await tempDir('restauth-leftovers-');
    await folderWithUsers(dir);
    const outbox = join(dir, '.restauth', 'outbox');
    await mkdir(outbox, { recursive: true });
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    const crashed = [
      '.db.json.4242.tmp',
      '.credentials.json.4243.tmp',
      '.credentials.audit.jsonl.4244.tmp',
      join('.restauth', '.mail-queue.json.4245.tmp'),
      join('.restauth', 'outbox', `2026-11-29T01-02-03-004Z-${deadPid}-0.json`),
      join('.restauth', 'outbox', `2026-11-29T01-02-03-004Z-${deadPid}-0.eml`),
      // Cut off before its rename, full or not: a mail is written whole or not at all.
      join('.restauth', 'outbox', `.2026-11-29T01-02-03-004Z-${deadPid}-2.eml.${deadPid}.tmp`),
    ];
    const kept = [
      'notes.tmp',
      '.db.json.backup.tmp',
      '.db.json.4242.tmp.keep',
      '.other.json.4242.tmp',
      join('.restauth', 'outbox', 'empty.json'),
      join('.restauth', 'outbox', `2026-11-29T01-02-03-004Z-${deadPid}-1.json`),
      // A live writer's file may be empty for a moment: this process's pid is alive.
      join('.restauth', 'outbox', `2026-11-29T01-02-03-004Z-${process.pid}-0.json`),
      join('.restauth', 'outbox', `.2026-11-29T01-02-03-004Z-${process.pid}-3.json.${process.pid}.tmp`),
    ];
    for (const name of crashed)
      await writeFile(join(dir, name), name.endsWith('.tmp') ? 'x'.repeat(4096) : '');
    for (const name of kept) await writeFile(join(dir, name), name.includes('-1.json') ? '{}' : '');
    const warnings: string[] = [];
    const t = await createTestApp({
      format: 'restauth',
      dir,
      logger: { info: () => {}, warn: (message) => warnings.push(message) },
    });
    try {
      for (const name of crashed) assert.equal(existsSync(join(dir, name)), false, `${name} is removed`);
      for (const name of kept) assert.equal(existsSync(join(dir, name)), true, `${name} is kept`);
      assert.match(
        warnings.join('\n'),
        /removed 1 temp file\(s\) of db\.json a crash left: \.db\.json\.4242\.tmp/,
      );
      assert.match(warnings.join('\n'), /removed 3 outbox file\(s\) a crash left unfinished/);
    } finally {
      await t.close();
    }
  });
});
