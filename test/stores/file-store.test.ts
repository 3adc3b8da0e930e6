import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuthError } from '../../src/core/errors.js';
import type { AuditEvent, Store } from '../../src/core/ports/store.js';
import { AuditFile } from '../../src/stores/file/audit-file.js';
import { auditFilePath, FileDatabase, openFileStore } from '../../src/stores/file/index.js';
import { normalizeCredentials } from '../../src/stores/file/records.js';
import { exitOf } from '../support/child-waits.js';
import { durableCredentials } from '../support/durable.js';
import { spawnTsScript } from '../support/process.js';
import { changeLines } from '../support/journal-lines.js';

const storeConfig = (dir: string) => ({
  type: 'file' as const,
  dataFile: join(dir, 'db.json'),
  credentialsFile: join(dir, 'credentials.json'),
  usersProp: 'users',
  userIdProp: 'id',
});

describe('FileDatabase', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-filedb-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const readJson = async (name: string) => JSON.parse(await readFile(join(dir, name), 'utf8'));

  it('creates missing files, credentials owner-only, and refuses invalid JSON naming the file', async () => {
    const sub = await mkdtemp(join(dir, 'create-'));
    const db = await FileDatabase.open({
      dataFile: join(sub, 'db.json'),
      credentialsFile: join(sub, 'credentials.json'),
    });
    await db.close();
    assert.deepEqual(JSON.parse(await readFile(join(sub, 'db.json'), 'utf8')), {});
    assert.deepEqual(JSON.parse(await readFile(join(sub, 'credentials.json'), 'utf8')), { passwords: [] });
    assert.equal((await stat(join(sub, 'credentials.json'))).mode & 0o777, 0o600);
    await writeFile(join(sub, 'db.json'), '{"users": [');
    await assert.rejects(
      FileDatabase.open({ dataFile: join(sub, 'db.json'), credentialsFile: join(sub, 'credentials.json') }),
      /db\.json is not valid JSON/,
    );
  });

  it('groups concurrent transactions into fewer commits, each durable when it resolves', async () => {
    const commits: number[] = [];
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      onCommit: (transactions) => commits.push(transactions),
    });
    try {
      db.data.posts = [];
      const writes = Array.from({ length: 200 }, (_, i) =>
        db.transact(({ data }) => {
          (data.posts as unknown[]).push({ id: i });
          return i;
        }),
      );
      const results = await Promise.all(writes);
      assert.deepEqual(
        results,
        Array.from({ length: 200 }, (_, i) => i),
      );
      assert.ok(commits.length < 200, `expected grouped commits, got ${commits.length}`);
      assert.equal(
        commits.reduce((sum, transactions) => sum + transactions, 0),
        200,
        'every transaction in one commit',
      );
      assert.equal((await readJson('db.json')).posts.length, 200);
      await db.transact(({ data }) => (data.posts as unknown[]).push({ id: 'last' }));
      assert.equal((await readJson('db.json')).posts.at(-1).id, 'last');
    } finally {
      await db.close();
    }
  });

  it('a credentials transaction rewrites neither file: its entries are a line of the credentials journal', async () => {
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
    });
    const identity = async (name: string) => {
      const { ino, mtimeMs } = await stat(join(dir, name));
      return [ino, mtimeMs];
    };
    try {
      const before = { data: await identity('db.json'), credentials: await identity('credentials.json') };
      // A change to db.json's document made outside any transaction: only a commit that serializes
      // db.json would write it.
      db.data.seenOnlyIfSerialized = true;
      await db.transactCredentials((credentials, changes) => {
        normalizeCredentials(credentials).accounts.marker = { note: 'credentials only' } as never;
        changes.wrote('accounts', 'marker');
      });
      assert.deepEqual(await identity('db.json'), before.data, 'db.json was rewritten');
      assert.deepEqual(
        await identity('credentials.json'),
        before.credentials,
        'credentials.json was rewritten',
      );
      assert.equal((await readJson('db.json')).seenOnlyIfSerialized, undefined);
      assert.deepEqual(
        changeLines(await readFile(join(dir, '.credentials.json.journal'), 'utf8')).map((line) =>
          JSON.parse(line),
        ),
        [{ op: 'put', map: 'accounts', key: 'marker', value: { note: 'credentials only' } }],
      );
      delete db.data.seenOnlyIfSerialized;
    } finally {
      await db.close();
    }
    // At close credentials.json takes the journal's entries, and the journal goes.
    assert.deepEqual((await readJson('credentials.json')).accounts.marker, { note: 'credentials only' });
    await assert.rejects(stat(join(dir, '.credentials.json.journal')), { code: 'ENOENT' });
  });

  it('rejects a failing transaction alone; the others in its commit land', async () => {
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
    });
    try {
      const ok = db.transact(({ data }) => ((data.flag as unknown) = 'set'));
      const bad = db.transact(() => {
        throw new Error('validation failed');
      });
      await assert.rejects(bad, /validation failed/);
      await ok;
      assert.equal((await readJson('db.json')).flag, 'set');
    } finally {
      await db.close();
    }
  });

  it('a transaction that fails halfway leaves memory exactly as before; the others in its commit land', async () => {
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
    });
    try {
      await db.transact(({ data }) => ((data.list as unknown) = ['a']));
      const before = structuredClone({ data: db.data, credentials: db.credentials });
      const first = db.transact(({ data }) => ((data.first as unknown) = 'landed'));
      const halfway = db.transact(({ data, credentials }) => {
        (data.list as string[]).push('half');
        credentials.half = true;
        throw new TypeError('a bug partway through');
      });
      const refusal = db.transact(() => {
        throw new AuthError('conflict');
      });
      const last = db.transactRecords((data, changes) => {
        data.last = 'landed';
        changes.set('last', 'landed');
      });
      await assert.rejects(halfway, /a bug partway through/);
      await assert.rejects(refusal, { code: 'conflict' });
      await Promise.all([first, last]);
      // By value, as `before` was cloned (the maps read from disk have no prototype, the clone's do).
      assert.deepEqual(structuredClone({ data: db.data, credentials: db.credentials }), {
        data: { ...before.data, first: 'landed', last: 'landed' },
        credentials: before.credentials,
      });
      const onDisk = await readJson('db.json');
      assert.deepEqual(onDisk.list, ['a']);
      assert.equal((await readJson('credentials.json')).half, undefined);
      delete db.data.list;
      delete db.data.first;
      delete db.data.last;
      await db.transact(() => undefined);
    } finally {
      await db.close();
    }
  });

  it('sets aside a change made by hand while it runs, with a warning, and keeps its own data', async () => {
    const warnings: string[] = [];
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      logger: { info: () => {}, warn: (message) => warnings.push(message) },
    });
    try {
      await db.transact(({ data }) => ((data.beforeEdit as unknown) = true));
      const edited = await readJson('db.json');
      edited.handEdited = true;
      const editText = JSON.stringify(edited, null, 2) + '\n\n';
      await writeFile(join(dir, 'db.json'), editText);
      await db.transact(({ data }) => ((data.afterEdit as unknown) = true));
      const onDisk = await readJson('db.json');
      assert.equal(onDisk.handEdited, undefined);
      assert.equal(onDisk.beforeEdit, true);
      assert.equal(onDisk.afterEdit, true);
      const aside = (await readdir(dir)).filter((name) => name.startsWith('db.json.rejected-'));
      assert.equal(aside.length, 1);
      assert.equal(await readFile(join(dir, aside[0]!), 'utf8'), editText);
      assert.match(
        warnings.join('\n'),
        /db\.json was changed outside restauth while it runs; the change is kept as db\.json\.rejected-/,
      );
    } finally {
      await db.close();
    }
  });

  it("refuses a second process on the same files with a clear message, and takes over a dead owner's lock", async () => {
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
    });
    const script = `
      import { FileDatabase } from ${JSON.stringify(new URL('../../src/stores/file/file-database.ts', import.meta.url).href)};
      try {
        const db = await FileDatabase.open({ dataFile: process.argv[1], credentialsFile: process.argv[2] });
        console.log('opened');
        await db.close();
      } catch (error) { console.log(error.message); process.exitCode = 3; }
    `;
    const run = async () => {
      const child = spawnTsScript(script, [join(dir, 'db.json'), join(dir, 'credentials.json')], 'pipe');
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      // 'close', not 'exit': the output is all read only then.
      const { code } = await exitOf(child);
      return { code, out };
    };
    try {
      const refused = await run();
      assert.equal(refused.code, 3);
      assert.match(refused.out, /db\.json is in use by another restauth \(pid \d+/);
    } finally {
      await db.close();
    }
    // The lock file stays, holding a pid that may mean nothing now: it does not block a restart.
    await writeFile(join(dir, '.db.json.lock'), '999999\n');
    const reopened = await run();
    assert.equal(reopened.out.trim(), 'opened');
  });
});

describe('FileStore refresh-token chains', () => {
  it('remember the 20 newest rotations of a session, not every one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-chain-'));
    const { store, db } = await openFileStore(storeConfig(dir));
    try {
      const user = await store.createUser(
        { username: 'chain', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
        'h',
      );
      const now = new Date();
      await store.createSession({
        id: 'chain-session',
        userId: user.id,
        createdAt: now,
        notAfter: new Date(now.getTime() + 86400_000),
        refreshSecret: 's',
        firstRefreshTokenHash: 't0',
        maxPerUser: 0,
      });
      for (let i = 0; i < 60; i++)
        assert.equal(await store.rotateRefreshToken(`t${i}`, `t${i + 1}`, now), true);
      const tokens = (db.credentials as { refreshTokens: Record<string, { sessionId: string }> })
        .refreshTokens;
      const ofSession = Object.keys(tokens).filter((hash) => tokens[hash]!.sessionId === 'chain-session');
      assert.equal(ofSession.length, 21, 'the live token and the 20 newest rotated ones');
      assert.equal(
        (await store.findRefreshToken('t59'))?.token.rotatedAt instanceof Date,
        true,
        'a recent one is known',
      );
      assert.equal(await store.findRefreshToken('t0'), null, 'an old one is forgotten');
      assert.equal((await store.findRefreshToken('t60'))?.token.rotatedAt, null);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('FileStore audit log', () => {
  const auditEvent = (action: string, at: Date, userId: string | null = null): AuditEvent => ({
    id: randomUUID(),
    at,
    action,
    actorId: null,
    userId,
    ip: '192.0.2.1',
    data: { note: 'line\nbreak and \u2028 separator' },
  });

  it('lives in credentials.audit.jsonl beside credentials.json, owner-only, never in credentials.json', async () => {
    assert.equal(auditFilePath('/srv/data/credentials.json'), '/srv/data/credentials.audit.jsonl');
    assert.equal(auditFilePath('/srv/data/secrets'), '/srv/data/secrets.audit.jsonl');
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-'));
    try {
      const { store } = await openFileStore(storeConfig(dir));
      const recorded = auditEvent('sign_in', new Date('2026-01-01T00:00:00.000Z'), 'u1');
      try {
        await store.recordAuditEvent(recorded);
        const lines = (await readFile(join(dir, 'credentials.audit.jsonl'), 'utf8')).split('\n');
        assert.equal(lines.length, 2, 'one line, newline-terminated');
        assert.equal(lines[1], '');
        assert.equal(JSON.parse(lines[0]!).at, '2026-01-01T00:00:00.000Z');
        assert.equal((await stat(join(dir, 'credentials.audit.jsonl'))).mode & 0o777, 0o600);
        assert.doesNotMatch(await readFile(join(dir, 'credentials.json'), 'utf8'), /sign_in/);
      } finally {
        await store.close();
      }
      // A restart reads the events back.
      const { store: reopened } = await openFileStore(storeConfig(dir));
      try {
        assert.deepEqual(await reopened.listAuditEvents({ page: 1, perPage: 10 }), {
          events: [recorded],
          total: 1,
        });
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes the events recorded in one tick with one append', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-'));
    const appends: number[] = [];
    const log = new AuditFile(join(dir, 'credentials.audit.jsonl'), (events) => appends.push(events));
    try {
      const at = new Date();
      await Promise.all(Array.from({ length: 30 }, (_, i) => log.record(auditEvent(`e${i}`, at))));
      assert.deepEqual(appends, [30]);
      const listed = await log.list({ page: 1, perPage: 100 });
      assert.deepEqual(
        listed.events.map((e) => e.action),
        Array.from({ length: 30 }, (_, i) => `e${i}`),
        'same instant: insertion order',
      );
    } finally {
      await log.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('skips a damaged last line (a crash mid-append) and starts the next event on a line of its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-'));
    const path = join(dir, 'credentials.audit.jsonl');
    const before = auditEvent('before_crash', new Date('2026-01-01T00:00:00.000Z'));
    const whole = JSON.stringify({ ...before, at: before.at.toISOString() });
    await writeFile(path, `${whole}\n{"id":"torn","at":"2026-01-01T00:00:01.000Z","acti`);
    const { store } = await openFileStore(storeConfig(dir));
    try {
      assert.deepEqual(await store.listAuditEvents({ page: 1, perPage: 10 }), {
        events: [before],
        total: 1,
      });
      const after = auditEvent('after_crash', new Date('2026-01-01T00:00:02.000Z'));
      await store.recordAuditEvent(after);
      assert.deepEqual(await store.listAuditEvents({ page: 1, perPage: 10 }), {
        events: [after, before],
        total: 2,
      });
      // Pruning rewrites the file without the damaged line, starting with its bound (see AuditFile.prune).
      assert.equal(await store.pruneAuditEvents(new Date('2026-01-01T00:00:01.000Z')), 1);
      assert.equal(
        await readFile(path, 'utf8'),
        `{"prunedBefore":"2026-01-01T00:00:01.000Z"}\n${JSON.stringify({ ...after, at: after.at.toISOString() })}\n`,
      );
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      // Appends after a prune go to the new file.
      const later = auditEvent('after_prune', new Date('2026-01-01T00:00:03.000Z'));
      await store.recordAuditEvent(later);
      assert.equal((await store.listAuditEvents({ page: 1, perPage: 10 })).total, 2);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lists nothing, and prunes nothing, before the first event', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-'));
    const { store } = await openFileStore(storeConfig(dir));
    try {
      assert.equal(await store.pruneAuditEvents(new Date()), 0);
      assert.deepEqual(await store.listAuditEvents({ page: 1, perPage: 10 }), { events: [], total: 0 });
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A code typed for `recipient`: one candidate purpose. */
function typedCode(store: Store, recipient: string, codeHash: string, purpose: string) {
  return store.consumeOneTimeCode({
    recipient,
    candidates: [{ purpose, codeHash }],
    now: new Date(),
    maxFailures: 5,
  });
}

describe('FileStore one-time tokens in credentials.json', () => {
  it('stores the code hash; entries written before codes existed read as without one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-ott-'));
    try {
      const expiresAt = new Date(Date.now() + 3600_000).toISOString();
      await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: 'old' }] }));
      await writeFile(
        join(dir, 'credentials.json'),
        JSON.stringify({
          passwords: [{ sub: 'old', password: 'h' }],
          oneTimeTokens: {
            'ott-legacy': { userId: 'old', purpose: 'recovery', createdAt: expiresAt, expiresAt, data: {} },
          },
        }),
      );
      const { store } = await openFileStore(storeConfig(dir));
      try {
        const legacy = await store.findOneTimeToken('old', 'recovery', new Date());
        assert.equal(legacy?.hash, 'ott-legacy');
        assert.equal(legacy?.codeHash, null);
        await store.createOneTimeToken({
          hash: 'ott-new',
          codeHash: 'code-new',
          recipient: 'old@example.com',
          userId: 'old',
          purpose: 'confirmation',
          createdAt: new Date(),
          expiresAt: new Date(expiresAt),
          data: {},
        });
        const onDisk = (await durableCredentials(join(dir, 'credentials.json'))) as {
          oneTimeTokens: Record<string, { codeHash: string; recipient: string }>;
        };
        assert.equal(onDisk.oneTimeTokens['ott-new']!.codeHash, 'code-new');
        assert.equal(onDisk.oneTimeTokens['ott-new']!.recipient, 'old@example.com');
        assert.equal(
          (await typedCode(store, 'old@example.com', 'code-new', 'confirmation'))?.hash,
          'ott-new',
        );
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('finds a token by a code added to credentials.json by hand while restauth was stopped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-ott-'));
    const first = await openFileStore(storeConfig(dir), { info: () => {}, warn: () => {} });
    let store = first.store;
    try {
      const user = await store.createUser(
        { username: 'hand', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
        'h',
      );
      const expiresAt = new Date(Date.now() + 3600_000);
      await store.createOneTimeToken({
        hash: 'ott-1',
        codeHash: 'code-1',
        recipient: 'hand@example.com',
        userId: user.id,
        purpose: 'recovery',
        createdAt: new Date(),
        expiresAt,
        data: {},
      });
      // Builds the code index.
      assert.equal(await typedCode(store, 'hand@example.com', 'code-unknown', 'recovery'), null);
      const path = join(dir, 'credentials.json');
      await store.close();
      const edited = JSON.parse(await readFile(path, 'utf8'));
      edited.oneTimeTokens['ott-hand'] = {
        codeHash: 'code-hand',
        recipient: 'hand@example.com',
        userId: user.id,
        purpose: 'confirmation',
        createdAt: new Date().toISOString(),
        expiresAt: expiresAt.toISOString(),
        data: {},
      };
      await writeFile(path, JSON.stringify(edited, null, 2) + '\n\n');
      store = (await openFileStore(storeConfig(dir), { info: () => {}, warn: () => {} })).store;
      assert.equal(
        (await typedCode(store, 'hand@example.com', 'code-hand', 'confirmation'))?.hash,
        'ott-hand',
      );
      assert.equal((await typedCode(store, 'hand@example.com', 'code-1', 'recovery'))?.hash, 'ott-1');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
