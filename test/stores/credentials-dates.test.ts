import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentialsText } from '../../src/stores/file/credentials-dates.js';
import { credentialsJournalPathFor } from '../../src/stores/file/credentials-journal.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { changeLines } from '../support/journal-lines.js';

/**
 * The file store keeps the dates of accounts, identities, sessions and refresh tokens as epoch
 * milliseconds in memory (credentials-dates.ts) and as ISO strings on disk. The fixture is a
 * credentials.json written by the release before, through its store (sign-ups, a sign-in with its
 * amr, a rotation, a revoked session, a ban, an invitation, a linked identity, a one-time token):
 * it must load and be written back byte for byte, journal lines included, so a rollback reads it.
 */
const FIXTURE = join(import.meta.dirname, 'fixtures/credentials-iso-dates.json');

describe('file store: dates as numbers in memory, as ISO strings on disk', () => {
  let root: string;
  let fixture: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'restauth-credentials-dates-'));
    fixture = await readFile(FIXTURE, 'utf8');
  });
  after(() => rm(root, { recursive: true, force: true }));

  const folder = async (credentials: string) => {
    const dir = await mkdtemp(join(root, 'store-'));
    await writeFile(
      join(dir, 'db.json'),
      `${JSON.stringify({ users: [{ id: 'ann' }, { id: 'bob' }] }, null, 2)}\n`,
    );
    await writeFile(join(dir, 'credentials.json'), credentials, { mode: 0o600 });
    return { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json'), dir };
  };
  const open = async (f: { dataFile: string; credentialsFile: string }) => {
    const db = await FileDatabase.open({ ...f, logger: { info() {}, warn() {} } });
    return { db, store: new FileStore(db, { usersProp: 'users', userIdProp: 'id' }) };
  };
  type Doc = Record<string, Record<string, Record<string, unknown>>>;

  it('loads a credentials.json of ISO dates as numbers and writes it back byte for byte', async () => {
    const f = await folder(fixture);
    const { db, store } = await open(f);
    try {
      const memory = db.credentials as Doc;
      assert.equal(memory.accounts!.ann!.emailConfirmedAt, Date.parse('2026-01-02T03:04:05.006Z'));
      assert.equal(memory.accounts!.bob!.bannedUntil, Date.parse('2030-01-01T00:00:00.000Z'));
      assert.equal(memory.sessions!['session-bob']!.revokedAt, Date.parse('2026-02-04T01:02:03.004Z'));
      assert.deepEqual(memory.sessions!['session-ann']!.amr, [
        { method: 'password', at: Date.parse('2026-02-03T04:05:06.789Z') },
      ]);
      assert.equal(memory.refreshTokens!['hash-first']!.rotatedAt, Date.parse('2026-02-03T05:00:00.001Z'));
      assert.equal(
        memory.identities!['9f73195b-c448-4740-b31a-900e7344e1d0']!.createdAt,
        Date.parse('2026-02-10T10:10:10.101Z'),
      );
      // One-time tokens keep their strings (few and short-lived).
      assert.equal(memory.oneTimeTokens!['ott-hash']!.expiresAt, '2026-02-11T01:00:00.000Z');
      assert.equal(credentialsText(db.credentials), fixture);

      // What the store hands out is the same instant.
      const bob = await store.findUserById('bob');
      assert.equal(bob?.invitedAt?.toISOString(), '2026-01-15T12:00:00.500Z');
      const session = await store.findSession('session-ann');
      assert.equal(session?.refreshedAt.toISOString(), '2026-02-03T05:00:00.001Z');

      // A journaled change: its line holds the entry as the release before wrote it, one date changed.
      await store.updateUser('ann', { lastSignInAt: new Date('2026-04-05T06:07:08.009Z') });
      const journal = changeLines(await readFile(credentialsJournalPathFor(f.credentialsFile), 'utf8')).join(
        '\n',
      );
      const expected = JSON.parse(fixture) as Doc;
      const ann = expected.accounts!.ann!;
      ann.lastSignInAt = '2026-04-05T06:07:08.009Z';
      const line = JSON.parse(journal) as { value: Record<string, unknown> };
      ann.updatedAt = line.value.updatedAt;
      assert.equal(journal, JSON.stringify({ op: 'put', map: 'accounts', key: 'ann', value: ann }));
      assert.match(String(ann.updatedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    } finally {
      await db.close();
    }
    // The close compacted the journal into the file: the fixture with that one account changed.
    const expected = JSON.parse(fixture) as Doc;
    const written = await readFile(f.credentialsFile, 'utf8');
    expected.accounts!.ann!.lastSignInAt = '2026-04-05T06:07:08.009Z';
    expected.accounts!.ann!.updatedAt = (JSON.parse(written) as Doc).accounts!.ann!.updatedAt;
    assert.equal(written, `${JSON.stringify(expected, null, 2)}\n`);
  });

  it('keeps as written the dates a number would not give back (no milliseconds, microseconds, not a date)', async () => {
    const doc = JSON.parse(fixture) as Doc;
    Object.assign(doc.accounts!.bob!, {
      createdAt: '2024-01-01T00:00:00Z',
      updatedAt: '2024-01-01T00:00:00.123456Z',
      lastSignInAt: 'yesterday',
      invitedAt: '+010000-01-01T00:00:00.000Z',
    });
    doc.sessions!['session-bob']!.createdAt = '2026-02-04T00:00:00.000001Z';
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    const f = await folder(text);
    const { db, store } = await open(f);
    try {
      const bob = (db.credentials as Doc).accounts!.bob!;
      assert.equal(bob.createdAt, '2024-01-01T00:00:00Z');
      assert.equal(bob.updatedAt, '2024-01-01T00:00:00.123456Z');
      // An ISO date of six-digit year gives its text back: a number.
      assert.equal(bob.invitedAt, Date.parse('+010000-01-01T00:00:00.000Z'));
      const user = await store.findUserById('bob');
      assert.equal(user?.createdAt.getTime(), Date.parse('2024-01-01T00:00:00Z'));
      const sessions = await store.listSessions('ann');
      assert.equal(sessions.length, 1);
      // A rewrite of the whole file (a transaction that may change anything) keeps them, byte for byte.
      await db.transact((docs) => {
        docs.data.touched = true;
        (docs.credentials as Doc).accounts!.ann!.role = 'editor';
      });
      doc.accounts!.ann!.role = 'editor';
      assert.equal(await readFile(f.credentialsFile, 'utf8'), `${JSON.stringify(doc, null, 2)}\n`);
    } finally {
      await db.close();
    }
  });

  it('replays a journal of ISO dates left by a crash of the release before, and writes the file as it would have', async () => {
    // The fixture without bob's session and its token, and those two as the release before journaled them.
    const doc = JSON.parse(fixture) as Doc;
    const session = doc.sessions!['session-bob']!;
    const token = doc.refreshTokens!['hash-bob-first']!;
    delete doc.sessions!['session-bob'];
    delete doc.refreshTokens!['hash-bob-first'];
    const f = await folder(`${JSON.stringify(doc, null, 2)}\n`);
    await writeFile(
      credentialsJournalPathFor(f.credentialsFile),
      `${JSON.stringify({ op: 'put', map: 'sessions', key: 'session-bob', value: session })}\n` +
        `${JSON.stringify({ op: 'put', map: 'refreshTokens', key: 'hash-bob-first', value: token })}\n`,
      { mode: 0o600 },
    );
    const { db, store } = await open(f);
    try {
      assert.equal(await readFile(f.credentialsFile, 'utf8'), fixture);
      assert.deepEqual(
        await readdir(f.dir).then((names) => names.filter((name) => name.endsWith('.journal'))),
        [],
      );
      const replayed = (db.credentials as Doc).sessions!['session-bob']!;
      assert.equal(replayed.revokedAt, Date.parse('2026-02-04T01:02:03.004Z'));
      assert.equal((await store.findSession('session-bob'))?.revokedReason, 'logout');
      // Memory after the replay is the fixture too.
      assert.equal(credentialsText(db.credentials), fixture);
    } finally {
      await db.close();
    }
  });

  it('a file this release wrote after sign-ins, refreshes and a crash is all ISO dates again', async () => {
    const f = await folder(fixture);
    const { db, store } = await open(f);
    const now = new Date('2026-05-01T00:00:00.250Z');
    await store.openSignIn({
      lastSignInAt: now,
      session: {
        id: 'session-new',
        // ann: the fixture's bob is banned, and the store opens no session for a banned user.
        userId: 'ann',
        createdAt: now,
        notAfter: new Date(now.getTime() + 86_400_000),
        refreshSecret: 'secret-new',
        firstRefreshTokenHash: 'hash-new',
        authMethod: 'password',
        maxPerUser: 0,
      },
      audit: null,
      provenHash: (await store.getPasswordHash('ann'))!,
    });
    await store.rotateRefreshToken('hash-new', 'hash-newer', new Date(now.getTime() + 1000));
    await store.revokeSession('session-ann', 'logout', now);
    // A crash: the folder as the process leaves it, reopened.
    const image = await mkdtemp(join(root, 'image-'));
    for (const name of await readdir(f.dir))
      if (!name.endsWith('.lock')) await copyFile(join(f.dir, name), join(image, name));
    const memory = credentialsText(db.credentials);
    await db.close();
    const copy = { dataFile: join(image, 'db.json'), credentialsFile: join(image, 'credentials.json') };
    const reopened = await open(copy);
    await reopened.db.close();
    const written = await readFile(copy.credentialsFile, 'utf8');
    assert.equal(written, memory);
    const parsed = JSON.parse(written) as Doc;
    assert.deepEqual(parsed.sessions!['session-new'], {
      userId: 'ann',
      createdAt: '2026-05-01T00:00:00.250Z',
      refreshedAt: '2026-05-01T00:00:01.250Z',
      notAfter: '2026-05-02T00:00:00.250Z',
      revokedAt: null,
      revokedReason: null,
      refreshSecret: 'secret-new',
      amr: [{ method: 'password', at: '2026-05-01T00:00:00.250Z' }],
    });
    assert.equal(parsed.sessions!['session-ann']!.revokedAt, '2026-05-01T00:00:00.250Z');
    assert.equal(parsed.refreshTokens!['hash-new']!.rotatedAt, '2026-05-01T00:00:01.250Z');
    assert.equal(parsed.accounts!.ann!.lastSignInAt, '2026-05-01T00:00:00.250Z');
  });
});
