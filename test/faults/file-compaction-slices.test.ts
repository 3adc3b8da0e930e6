import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { removeLeftoverTempFiles } from '../../src/lib/atomic-write.js';
import { credentialsText } from '../../src/stores/file/credentials-dates.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { requestAtFirstPiece } from '../support/answering-server.js';
import { exitOf } from '../support/child-waits.js';
import { newSession, seed } from '../support/credentials-seed.js';
import { durableCredentials } from '../support/durable.js';
import { killedWhileWriting } from '../support/killed-while-writing.js';

/**
 * A compaction rewrites credentials.json whole (23 MB at 50,000 users): stringified, hashed and
 * deflated in one go it held the event loop for 0.56 s, no request answered. It now writes the file
 * in pieces (credentialsPieces, 500 entries each), hashed and deflated as they pass, and requests are
 * answered between pieces. What is measured is the code's own count (the pieces and their length),
 * not a time. A kill in the middle of it loses no acknowledged write: the journal is emptied only
 * after the rename.
 */
const USERS = 5000;
const quiet = { info() {}, warn() {} };

describe('a compaction of a big credentials.json', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const files = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-compaction-slices-'));
    dirs.push(dir);
    const seeded = seed(USERS);
    await writeFile(join(dir, 'db.json'), seeded.data);
    await writeFile(join(dir, 'credentials.json'), seeded.credentials, { mode: 0o600 });
    return { dir, dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
  };

  it('writes the file in pieces, answers a request meanwhile, and the file is what it was written whole', async () => {
    const f = await files();
    // The first piece sends a request; it must be answered before the compaction (here, at close) ends.
    const { pieces, onPiece, answeredBefore } = await requestAtFirstPiece();
    const db = await FileDatabase.open({ ...f, logger: quiet, onCompactionPiece: onPiece });
    const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
    await store.createSession(newSession('user7', 'signed-in', new Date()));
    const expected = credentialsText(db.credentials);
    await db.close();
    assert.ok(await answeredBefore(), 'the request was answered only after the compaction');
    assert.equal(await readFile(f.credentialsFile, 'utf8'), expected);
    // What stalls no more, counted by the code: many pieces, none near the whole file.
    assert.ok(pieces.length >= 20, `${pieces.length} pieces`);
    const longest = Math.max(...pieces);
    assert.ok(longest * 10 < expected.length, `a piece of ${longest} of ${expected.length} characters`);
  });

  it('credentials.json edited by hand while a compaction writes it: the edit is set aside, the compaction made again', async () => {
    const f = await files();
    let edited = false;
    const db = await FileDatabase.open({
      ...f,
      logger: quiet,
      // At the first piece, a hand edit of the file being replaced (writeFileSync: done before the next piece).
      onCompactionPiece: () => {
        if (edited) return;
        edited = true;
        writeFileSync(f.credentialsFile, '{"edited": "by hand"}\n');
      },
    });
    const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
    await store.createSession(newSession('user7', 'signed-in', new Date()));
    const expected = credentialsText(db.credentials);
    await db.close();
    assert.equal(await readFile(f.credentialsFile, 'utf8'), expected);
    const aside = (await readdir(f.dir)).filter((name) => name.startsWith('credentials.json.rejected-'));
    assert.equal(aside.length, 1, String(aside));
    assert.equal(await readFile(join(f.dir, aside[0]!), 'utf8'), '{"edited": "by hand"}\n');
  });

  it('killed (SIGKILL) while it writes credentials.json: a restart has every acknowledged write', async () => {
    const f = await files();
    // The child acknowledges a sign-in's session, then compacts (at close) and kills itself once the new
    // credentials.json (writeFileAtomically's temp file, named by its pid) has content.
    const child = killedWhileWriting(
      f.dir,
      'credentials.json',
      `
      const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
      await store.createSession(newSession('user7', 'signed-in', new Date()));
      await db.close();
      console.error('the compaction ended before the kill');
    `,
    );
    assert.deepEqual(await exitOf(child), { code: null, signal: 'SIGKILL' });
    assert.deepEqual(await removeLeftoverTempFiles(f.credentialsFile), [
      `.credentials.json.${child.pid}.tmp`,
    ]);

    const durable = (await durableCredentials(f.credentialsFile)) as { sessions: Record<string, unknown> };
    assert.ok(durable.sessions['signed-in'], 'the acknowledged session is lost');
    const db = await FileDatabase.open({ ...f, logger: quiet });
    try {
      const sessions = db.credentials.sessions as Record<string, { userId: string }>;
      assert.equal(sessions['signed-in']?.userId, 'user7');
      assert.equal(Object.keys(sessions).length, USERS + 1);
    } finally {
      await db.close();
    }
    assert.ok((await readdir(f.dir)).every((name) => !name.endsWith('.journal')));
  });

  it('killed (SIGKILL) after the rename, before the journal is emptied: a restart loads every acknowledged write once', async () => {
    const f = await files();
    // Sign-ins (a session and an audit event each, journaled together) and a password change, each
    // noted once acknowledged; then a compaction (at close) killed once credentials.json is in place.
    const child = killedWhileWriting(
      f.dir,
      'credentials.json',
      `
      const { appendFileSync } = await import('node:fs');
      const acknowledged = (what) => appendFileSync(join(dir, 'acknowledged'), what + '\\n');
      const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
      for (let i = 0; i < 20; i++) {
        const at = new Date();
        const userId = 'user' + (i % 5);
        const audit = { id: 'audit-' + i, at, action: 'sign_in', actorId: userId, userId, ip: null, data: {} };
        const session = newSession(userId, 'signed-in-' + i, at);
        // 'hash': the password the fixture stores, which the sign-in verified (Store.openSignIn).
        await store.openSignIn({ lastSignInAt: at, session, audit, provenHash: 'hash' });
        acknowledged('signed-in-' + i);
      }
      if (!(await store.replacePasswordHash('user3', 'new hash', 'hash'))) throw new Error('not replaced');
      acknowledged('password');
      await db.close();
      console.error('the compaction ended before the kill');
    `,
      'after the rename',
    );
    assert.deepEqual(await exitOf(child), { code: null, signal: 'SIGKILL' });
    const acknowledged = (await readFile(join(f.dir, 'acknowledged'), 'utf8')).trim().split('\n');
    assert.equal(acknowledged.length, 21, 'every write was acknowledged before the compaction');
    // The moment: credentials.json holds every write, and its journal still holds them too.
    const onDisk = JSON.parse(await readFile(f.credentialsFile, 'utf8')) as {
      sessions: Record<string, unknown>;
    };
    assert.ok(onDisk.sessions['signed-in-19'], 'credentials.json was not yet in place');
    const journal = await readFile(join(f.dir, '.credentials.json.journal'), 'utf8');
    assert.match(journal, /"signed-in-19"/, 'the journal was already emptied');

    for (const restart of [1, 2]) {
      const db = await FileDatabase.open({ ...f, logger: quiet });
      try {
        const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
        const sessions = db.credentials.sessions as Record<string, { userId: string }>;
        for (let i = 0; i < 20; i++) assert.equal(sessions[`signed-in-${i}`]?.userId, `user${i % 5}`);
        assert.equal(Object.keys(sessions).length, USERS + 20, `restart ${restart}`);
        const passwords = (db.credentials.passwords as Array<{ sub: string; password: string }>).filter(
          (entry) => entry.sub === 'user3',
        );
        assert.deepEqual(passwords, [{ sub: 'user3', password: 'new hash' }], `restart ${restart}`);
        const { events, total } = await store.listAuditEvents({ page: 1, perPage: 100 });
        assert.equal(total, 20, `restart ${restart}: ${events.map((event) => event.id).join(' ')}`);
        assert.deepEqual(
          events.map((event) => event.id).sort(),
          Array.from({ length: 20 }, (_, i) => `audit-${i}`).sort(),
        );
      } finally {
        await db.close();
      }
    }
    assert.ok((await readdir(f.dir)).every((name) => !name.endsWith('.journal')));
  });
});
