import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createServices, type Services } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { countRoundTrips } from '../support/round-trips.js';

const PASSWORD = 'correct horse battery';

/**
 * A password sign-in on PostgreSQL is two transactions and two round trips (issue 17, item 4;
 * bench/postgres.ts counts them the same way): the user with its hash in one query, then its
 * last_sign_in_at, the session with its first refresh token, the audit event and the user's cap in
 * one call (Store.openSignIn, migration 36's open_sign_in), where BEGIN, the writes, the cap and
 * COMMIT were four round trips. Transactions are counted with pg_stat_database's xact_commit: a
 * backend reports its counts when it exits, so each phase closes its services and waits for its
 * backends to be gone before reading (pg_terminate_backend with a timeout waits for that), and the
 * difference of two phases cancels what starting the services costs. Round trips are counted at the
 * client (test/support/round-trips.ts).
 */
describe('a password sign-in on PostgreSQL', { skip: statisticsUnavailable() ?? false }, () => {
  let serverUrl: string;
  let url: string;
  let dir: string;
  let config: Config;
  let admin: pg.Client;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    dir = await mkdtemp(join(tmpdir(), 'restauth-sign-in-'));
    config = await loadConfig({
      cwd: dir,
      env: {},
      overrides: {
        store: testStoreConfig(url),
        jwt: { secret: 'sign-in-transactions-0123456789abcdef-01' },
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        sessions: { maxPerUser: 2 },
        logLevel: 'warn',
      },
    });
    // On the server's maintenance database: its own transactions are not the measured database's.
    admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await withServices(async ({ auth }) => {
      await auth.signUp(LOCAL_CALL, { username: 'signing-in', password: PASSWORD });
    });
  });
  after(async () => {
    await admin?.end();
    await dropDatabase(serverUrl, url);
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `work` on services of their own (no mail worker, no upkeep), closed after it. */
  async function withServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
    const services = await createServices(config, { info: () => {}, warn: () => {} }, { workers: false });
    try {
      return await work(services);
    } finally {
      await services.close();
    }
  }

  /** The database's committed transactions, once every backend that served it has exited and reported. */
  async function committed(): Promise<number> {
    const name = new URL(url).pathname.slice(1);
    await admin.query(
      'SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    const { rows } = await admin.query<{ n: string }>(
      'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1',
      [name],
    );
    return Number(rows[0]!.n);
  }

  /** The transactions of starting services, signing in `count` times and closing them. */
  async function phase(count: number): Promise<number> {
    const before = await committed();
    await withServices(async ({ auth }) => {
      for (let i = 0; i < count; i++) await auth.signIn(LOCAL_CALL, 'signing-in', PASSWORD);
    });
    return (await committed()) - before;
  }

  it('takes two transactions, and keeps the session cap, last_sign_in_at and the audit event', async () => {
    const few = await phase(1);
    const many = await phase(11);
    assert.equal((many - few) / 10, 2, `${few} and ${many} transactions`);

    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const { rows: sessions } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
         JOIN restauth.accounts a ON a.uid = u.id WHERE a.username = 'signing-in'`,
      );
      assert.equal(sessions[0]!.n, 2, 'sessions.maxPerUser');
      const { rows: events } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM restauth.audit_log WHERE action = 'sign_in' AND data ->> 'via' = 'password'`,
      );
      assert.equal(events[0]!.n, 12, 'one audit event per sign-in');
    } finally {
      await pool.end();
    }
    const signedIn = await withServices(({ auth }) => auth.signIn(LOCAL_CALL, 'signing-in', PASSWORD));
    assert.ok(signedIn.user.lastSignInAt, 'last_sign_in_at answered');
    const stored = await withServices(({ store }) => store.findUserById(signedIn.user.id));
    assert.deepEqual(stored?.lastSignInAt, signedIn.user.lastSignInAt);
    const amr = signedIn.session.amr.map((claim) => claim.method);
    assert.deepEqual(amr, ['password']);
  });

  it('sends two statements to the database, and a refresh one', async () => {
    await withServices(async ({ auth }) => {
      await auth.signIn(LOCAL_CALL, 'signing-in', PASSWORD); // every statement prepared once
      const signIn = await countRoundTrips(url, () => auth.signIn(LOCAL_CALL, 'signing-in', PASSWORD));
      assert.equal(signIn.count, 2, `a sign-in: ${signIn.statements.join(' | ')}`);
      const refresh = await countRoundTrips(url, () => auth.refresh(LOCAL_CALL, signIn.answer.refreshToken));
      assert.equal(refresh.count, 1, `a refresh: ${refresh.statements.join(' | ')}`);
      // From a client: the account's wrong passwords are read with the user, and the client is
      // remembered as a known one (the guess limit) with the sign-in's writes.
      const client = { ip: '192.0.2.7' };
      await auth.signIn(client, 'signing-in', PASSWORD);
      const fromClient = await countRoundTrips(url, () => auth.signIn(client, 'signing-in', PASSWORD));
      assert.equal(fromClient.count, 2, `a sign-in from a client: ${fromClient.statements.join(' | ')}`);
    });
  });

  it("opens any other way's session (a mailed code, a provider, a recovery) in one round trip", async () => {
    await withServices(async ({ auth, store }) => {
      const user = await auth.findByLogin('signing-in');
      const session = (at: Date) => ({
        id: randomUUID(),
        userId: user!.id,
        createdAt: at,
        notAfter: new Date(at.getTime() + 60_000),
        refreshSecret: 'a secret',
        firstRefreshTokenHash: randomUUID(),
        maxPerUser: 2,
        authMethod: 'otp',
      });
      await store.createSession(session(new Date())); // every statement prepared once
      const opened = await countRoundTrips(url, () => store.createSession(session(new Date())));
      assert.equal(opened.count, 1, `a session: ${opened.statements.join(' | ')}`);
      assert.equal((await store.listSessions(user!.id)).length, 2, 'sessions.maxPerUser');
      // From a client, the session's statement also remembers it as the account's known one (the
      // guess limit): no round trip more than a session opened on the host (no client).
      const client = { ip: '192.0.2.8' };
      await auth.startSession(client, user!); // every statement prepared once
      const local = await countRoundTrips(url, () => auth.startSession(LOCAL_CALL, user!));
      const fromClient = await countRoundTrips(url, () => auth.startSession(client, user!));
      assert.equal(fromClient.count, local.count, `from a client: ${fromClient.statements.join(' | ')}`);
      const gone = await countRoundTrips(url, () =>
        assert.rejects(store.createSession({ ...session(new Date()), userId: randomUUID() }), {
          code: 'user_not_found',
        }),
      );
      // The refusal reads why nothing was written (the user gone, or banned meanwhile): rare, and
      // the opening itself stays one round trip.
      assert.equal(gone.count, 2, `a refused session: ${gone.statements.join(' | ')}`);
    });
  });

  it('refuses a wrong password in three round trips, its audit event naming the user', async () => {
    await withServices(async ({ auth, store }) => {
      const user = await auth.findByLogin('signing-in');
      const wrong = () => auth.signIn(LOCAL_CALL, 'signing-in', 'wrong password');
      await assert.rejects(wrong()); // every statement prepared once
      const refused = await countRoundTrips(url, () =>
        assert.rejects(wrong(), { code: 'invalid_credentials' }),
      );
      // The lookup, the wrong password counted against the account (rateLimits.passwordGuesses) and
      // the audit event: one more than a sign-in, on a refusal only.
      assert.equal(refused.count, 3, `a refused sign-in: ${refused.statements.join(' | ')}`);
      // A login no account has: its own count read with the lookup, then written: the same three.
      const unknown = await countRoundTrips(url, () =>
        assert.rejects(auth.signIn(LOCAL_CALL, 'nobody-here', PASSWORD), { code: 'invalid_credentials' }),
      );
      assert.equal(unknown.count, 3, `an unknown login: ${unknown.statements.join(' | ')}`);
      const { events } = await store.listAuditEvents({ page: 1, perPage: 1, userId: user!.id });
      assert.equal(events[0]?.action, 'sign_in_failed');
    });
  });

  it('refuses a wrong password and an unknown user alike, opening no session', async () => {
    await withServices(async ({ auth, store }) => {
      const user = await auth.findByLogin('signing-in');
      const sessions = (await store.listSessions(user!.id)).map((session) => session.id);
      for (const [login, password] of [
        ['signing-in', 'wrong password'],
        ['nobody', PASSWORD],
      ] as const) {
        await assert.rejects(auth.signIn(LOCAL_CALL, login, password), { code: 'invalid_credentials' });
      }
      assert.deepEqual(
        (await store.listSessions(user!.id)).map((session) => session.id),
        sessions,
      );
    });
  });
});

/** Why the transactions cannot be counted here: PGlite is one backend in this process, which never exits. */
function statisticsUnavailable(): string | null {
  return realServerOnly() === null
    ? null
    : "counts each backend's committed transactions, reported when it exits: PGlite is one backend in this process";
}
