import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createServices, type Services } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { SessionManager } from '../../src/core/sessions.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

const PASSWORD = 'correct horse battery';
const CAP = 2;
const RACERS = 6;

/**
 * sessions.maxPerUser under sign-ins of one user racing each other on PostgreSQL: password sign-ins
 * (Store.openSignIn), and every other path (OAuth, id_token, a mailed link or code, a PKCE exchange,
 * a sign-up, a password change or recovery: AuthService.startSession and openSession, each ending in
 * SessionManager.start, the one caller of Store.createSession).
 * The race is made certain, not hoped for: a transaction of the test holds the user's row while the
 * sign-ins are sent, so every one of them has started its statement and waits for that row before
 * any commits; then the row is let go. A cap enforced against a snapshot taken before the others
 * committed would keep every racer's session (here RACERS + CAP - 1 of them).
 */
describe('the session cap under racing sign-ins of one user', { skip: realServerOnly() ?? false }, () => {
  let serverUrl: string;
  let url: string;
  let dir: string;
  let services: Services;
  let holder: pg.Client;
  let observer: pg.Client;
  let userId: string;
  let sessions: SessionManager;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    dir = await mkdtemp(join(tmpdir(), 'restauth-cap-race-'));
    const config = await loadConfig({
      cwd: dir,
      env: {},
      overrides: {
        store: { ...testStoreConfig(url), poolMax: RACERS + 2 },
        jwt: { secret: 'session-cap-race-0123456789abcdef-0123' },
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        sessions: { maxPerUser: CAP },
        logLevel: 'warn',
      },
    });
    services = await createServices(config, { info: () => {}, warn: () => {} }, { workers: false });
    sessions = new SessionManager(services.store, config.sessions, {
      imported: Buffer.alloc(32),
      successors: Buffer.alloc(32),
    });
    userId = (await services.auth.signUp(LOCAL_CALL, { username: 'racing', password: PASSWORD })).user.id;
    holder = new pg.Client({ connectionString: url });
    await holder.connect();
    // Another connection: inside the holder's transaction pg_stat_activity would stay as first read.
    observer = new pg.Client({ connectionString: url });
    await observer.connect();
  });
  after(async () => {
    await holder?.end();
    await observer?.end();
    await services?.close();
    await dropDatabase(serverUrl, url);
    await rm(dir, { recursive: true, force: true });
  });

  /** The sign-ins waiting for a lock, as PostgreSQL reports them. */
  async function waitingForLock(): Promise<number> {
    const { rows } = await observer.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
    );
    return rows[0]!.n;
  }

  it('keeps at most sessions.maxPerUser sessions, each answered session but the newest ended', async () => {
    await services.auth.signIn(LOCAL_CALL, 'racing', PASSWORD);
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM auth.users WHERE id = $1 FOR UPDATE', [userId]);
    const racing = Array.from({ length: RACERS }, () => services.auth.signIn(LOCAL_CALL, 'racing', PASSWORD));
    // Each sign-in verifies its password, then blocks on the held row inside its statement. Polled:
    // PostgreSQL has no notification for a backend starting to wait.
    while ((await waitingForLock()) < RACERS) await new Promise((resolve) => setImmediate(resolve));
    await holder.query('COMMIT');
    const signedIn = await Promise.all(racing);
    assert.equal(signedIn.length, RACERS);

    const live = await services.store.listSessions(userId);
    assert.ok(live.length <= CAP, `${live.length} sessions live, the cap is ${CAP}`);
    const { rows } = await holder.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM auth.sessions WHERE user_id = $1',
      [userId],
    );
    assert.equal(rows[0]!.n, live.length, 'auth.sessions holds the live sessions only');
  });
  /**
   * A session opened by any other path beside a password sign-in whose session is not committed yet.
   * The test's transaction holds the user's oldest session, which that sign-in's cap must delete: the
   * sign-in waits there, holding the user's row and its new session, until every other session has
   * been sent. A session inserted without waiting for that row, then capped against a snapshot that
   * cannot see the sign-in's session, would be kept beside it (CAP + 1 live, or more). Migration 26's
   * trigger on auth.sessions (the pre-request's session_checks) also makes the insert wait, FOR SHARE
   * on the user's row; createSession does not rely on it.
   */
  it('keeps at most sessions.maxPerUser when sessions of other paths race a password sign-in', async () => {
    await services.auth.signIn(LOCAL_CALL, 'racing', PASSWORD);
    await services.auth.signIn(LOCAL_CALL, 'racing', PASSWORD);
    const [oldest] = (await services.store.listSessions(userId)).reverse();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM auth.sessions WHERE id = $1 FOR UPDATE', [oldest!.id]);
    const signIn = services.auth.signIn(LOCAL_CALL, 'racing', PASSWORD);
    while ((await waitingForLock()) < 1) await new Promise((resolve) => setImmediate(resolve));
    const others = Array.from({ length: RACERS }, () => sessions.start(userId, new Date(), 'otp'));
    while ((await waitingForLock()) < 1 + RACERS) await new Promise((resolve) => setImmediate(resolve));
    await holder.query('COMMIT');
    await signIn;
    assert.equal((await Promise.all(others)).length, RACERS);

    const live = await services.store.listSessions(userId);
    assert.ok(live.length <= CAP, `${live.length} sessions live, the cap is ${CAP}`);
  });
  /**
   * The cap's statement failing (here its backend terminated while it waits for a row the test holds,
   * as a restart or a broken connection would): the caller gets an error, so its session must not
   * stay. Inserted and capped by separate statements, it was committed before the cap ran and kept,
   * beyond the cap and handed to nobody.
   */
  it('keeps no session whose cap failed', async () => {
    await services.auth.signIn(LOCAL_CALL, 'racing', PASSWORD);
    await services.auth.signIn(LOCAL_CALL, 'racing', PASSWORD);
    const before = await services.store.listSessions(userId);
    assert.equal(before.length, CAP);
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM auth.sessions WHERE id = $1 FOR UPDATE', [before.at(-1)!.id]);
    const opening = sessions.start(userId, new Date(), 'otp').then(
      () => 'opened',
      () => 'failed',
    );
    while ((await waitingForLock()) < 1) await new Promise((resolve) => setImmediate(resolve));
    await observer.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
    );
    assert.equal(await opening, 'failed');
    await holder.query('COMMIT');

    const after = await services.store.listSessions(userId);
    assert.deepEqual(
      after.map((session) => session.id),
      before.map((session) => session.id),
    );
  });
});
