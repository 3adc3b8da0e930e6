import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createServices, type Services } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';

const PASSWORD = 'correct horse battery';
const CAP = 2;
const RACERS = 6;

/**
 * sessions.maxPerUser under sign-ins of one user racing each other on PostgreSQL (Store.openSignIn).
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
    userId = (await services.auth.signUp({ username: 'racing', password: PASSWORD })).user.id;
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
    await services.auth.signIn('racing', PASSWORD);
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM auth.users WHERE id = $1 FOR UPDATE', [userId]);
    const racing = Array.from({ length: RACERS }, () => services.auth.signIn('racing', PASSWORD));
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
});
