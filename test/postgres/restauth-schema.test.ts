import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate, migrationStatus } from '../../src/stores/postgres/migrate.js';
import { migrations } from '../../src/stores/postgres/migrations.js';
import { outboxTable, PostgresMailQueue } from '../../src/stores/postgres/outbox.js';
import { PostgresRateLimitCounter, rateLimitTable } from '../../src/stores/postgres/rate-limits.js';
import { postgresReadiness } from '../../src/stores/postgres/readiness.js';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';
import { runRestauth } from '../support/process.js';
import { migrateUpTo, SUPABASE_NAMES } from '../support/postgres-migrations.js';
import { PRE_REQUEST_REFUSED } from '../support/pre-request-verdict.js';

const names = SUPABASE_NAMES;
const SECRET = 'restauth-schema-test-secret-0123456789abcdef';
const OWN_TABLES = ['audit_log', 'mail_outbox', 'rate_limits', 'restauth_migrations', 'user_roles'];
/** Roles are cluster-wide: the user role this file makes is its own. */
const userRole = `kate_${randomBytes(3).toString('hex')}`;

async function tablesIn(pool: pg.Pool, schema: string): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
    [schema],
  );
  return rows.map((row) => row.name);
}

/**
 * Migration 16 moves the tables GoTrue has no table for (the mail outbox,
 * rate-limit windows, role ownership, the audit log, the bookkeeping) out of
 * GoTrue's `auth` into `restauth`. An upgraded database keeps working: the
 * mail queued before is delivered, a window keeps counting, the pre-request
 * still finds a postgrest-auth role's owner and deleting the user drops the
 * role, and the audit log keeps its events; `migrate --status` shows it.
 */
describe("restauth's own tables in restauth's schema (migration 16)", () => {
  let serverUrl: string;
  let url: string;
  let pool: pg.Pool;
  let store: PostgresStore;
  let dir: string;
  const userId = randomUUID();
  const mailId = randomUUID();
  const auditId = randomUUID();
  let applied: number[];
  let readyBefore: string;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    dir = await mkdtemp(join(tmpdir(), 'restauth-schema-'));
    pool = new pg.Pool({ connectionString: url, max: 4 });
    await migrateUpTo(pool, names, 15);
    // What a database of the restauth before holds: a user owning its role (postgrest-auth's, adopted),
    // a mail waiting, a rate-limit window under way, an audit event.
    await pool.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
         created_at, updated_at, confirmation_token, recovery_token, email_change_token_new, email_change)
       VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', $2, 'kate@example.com', '{}', '{}',
         now(), now(), '', '', '', '')`,
      [userId, userRole],
    );
    const { rows } = await pool.query<{ id: number }>(
      `INSERT INTO restauth.accounts (uid, username, username_lowercase) VALUES ($1, $2, $2) RETURNING id`,
      [userId, userRole],
    );
    await pool.query(`CREATE ROLE ${userRole} NOLOGIN IN ROLE authenticated`);
    await pool.query('INSERT INTO auth.user_roles (role, user_id, adopted) VALUES ($1, $2, true)', [
      userRole,
      rows[0]!.id,
    ]);
    await pool.query(
      `INSERT INTO auth.mail_outbox (id, message, attempts, next_attempt_at) VALUES ($1, $2, 1, now())`,
      [mailId, { to: 'kate@example.com', subject: 'Confirm', text: 'link', html: '<p>link</p>' }],
    );
    await pool.query(
      `INSERT INTO auth.rate_limits (key, reset_at, count) VALUES ('sign-in:kate', now() + interval '1 hour', 3)`,
    );
    await pool.query(
      `INSERT INTO auth.audit_log (id, at, action, actor_id, user_id, ip, data)
       VALUES ($1, now() - interval '1 minute', 'sign_in', $2, $2, '192.0.2.1', '{}')`,
      [auditId, userId],
    );
    readyBefore = (await postgresReadiness(pool, names)).checks.migrations ?? '';
    applied = await migrate(pool, names);
    store = new PostgresStore(pool, names, { preparedStatements: testStoreConfig(url).preparedStatements });
  });
  after(async () => {
    // Dropped with its user by the last test but one; if that failed, here (roles outlive databases).
    await pool.query(`DROP ROLE IF EXISTS ${userRole}`);
    await store.close();
    await dropDatabase(serverUrl, url);
    await rm(dir, { recursive: true, force: true });
  });

  it("moves them out of GoTrue's schema into restauth's, and readiness found the bookkeeping either side", async () => {
    assert.equal(applied[0], 16);
    // 16 first; later migrations (17 on) are pending beside it.
    assert.match(readyBefore, /^pending: 16(, \d+)*$/u);
    const gotrue = await tablesIn(pool, 'auth');
    for (const table of OWN_TABLES) assert.ok(!gotrue.includes(table), `auth.${table} is still there`);
    const own = await tablesIn(pool, 'restauth');
    for (const table of OWN_TABLES) assert.ok(own.includes(table), `restauth.${table} is missing`);
    assert.equal((await postgresReadiness(pool, names)).checks.migrations, 'ok');
    const status = await migrationStatus(pool, names);
    assert.equal(status.table, 'restauth.restauth_migrations');
    assert.deepEqual(
      status.applied.map((migration) => migration.version),
      migrations(names).map((migration) => migration.version),
    );
  });

  it('delivers the mail queued before the move', async () => {
    const queue = new PostgresMailQueue(pool, outboxTable(names));
    const claimed = await queue.claimDue(Date.now() + 1000, 10, 60_000);
    assert.deepEqual(
      claimed.map((mail) => [mail.id, mail.message.to, mail.attempts]),
      [[mailId, 'kate@example.com', 1]],
    );
  });

  it('keeps counting a rate-limit window opened before the move', async () => {
    const counter = new PostgresRateLimitCounter(pool, rateLimitTable(names));
    const { count } = await counter.hit('sign-in:kate', 3_600_000, new Date());
    assert.equal(count, 4);
  });

  it('keeps the audit log, appending after the events of before', async () => {
    await store.recordAuditEvent({
      id: randomUUID(),
      at: new Date(),
      action: 'sign_out',
      actorId: userId,
      userId,
      ip: null,
      data: {},
    });
    const page = await store.listAuditEvents({ page: 1, perPage: 10, userId });
    assert.deepEqual(
      page.events.map((event) => event.action),
      ['sign_out', 'sign_in'],
    );
    assert.equal(page.events[1]!.id, auditId);
  });

  it("PostgREST's roles read none of them", async () => {
    for (const role of ['anon', 'authenticated']) {
      for (const table of OWN_TABLES) {
        const { rows } = await pool.query<{ granted: boolean }>(
          `SELECT has_table_privilege($1, $2, 'SELECT, INSERT, UPDATE, DELETE') AS granted`,
          [role, `restauth.${table}`],
        );
        assert.equal(rows[0]!.granted, false, `${role} may use restauth.${table}`);
      }
    }
  });

  it('the pre-request finds the owner of a postgrest-auth role token, and deleting the user drops the role', async () => {
    // Under `as`, as PostgREST switches to the token's role first (migration 58 checks a role token under it).
    const check = async (claims: object, as: string): Promise<void> => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
        await client.query(`SELECT set_config('role', $1, true)`, [as]);
        await client.query('SELECT auth.check_token_count()');
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    };
    await check({ role: userRole, count: 0 }, userRole);
    await assert.rejects(check({ role: 'authenticated', count: 0 }, 'authenticated'), PRE_REQUEST_REFUSED);

    assert.equal(await store.deleteUser(userId), true);
    const { rowCount } = await pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [userRole]);
    assert.equal(rowCount, 0, "the deleted user's role is still there");
    // PostgREST can no longer switch to the dropped role; under any other the token is refused.
    await assert.rejects(check({ role: userRole, count: 0 }, 'authenticated'), PRE_REQUEST_REFUSED);
  });

  it('restauth migrate --status names the table and lists migration 16 applied', async () => {
    const status = await runRestauth(dir, ['migrate', '--status'], {
      DATABASE_URL: url,
      RESTAUTH_JWT_SECRET: SECRET,
    });
    assert.equal(status.code, 0, status.output);
    assert.match(status.output, /^restauth migrations \(restauth\.restauth_migrations\):$/mu);
    assert.match(status.output, /^ {2}applied {2}16 {2}restauth's own tables .+ \(\d{4}-/mu);
    assert.doesNotMatch(status.output, /pending/u);
  });
});

describe('a new database', () => {
  it("never has restauth's bookkeeping in GoTrue's schema", async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      await migrate(pool, names);
      const { rows } = await pool.query<{ legacy: string | null; own: string | null }>(
        `SELECT to_regclass('auth.restauth_migrations')::text AS legacy,
                to_regclass('restauth.restauth_migrations')::text AS own`,
      );
      assert.deepEqual(rows[0], { legacy: null, own: 'restauth.restauth_migrations' });
      assert.deepEqual(await migrate(pool, names), [], 'a second run applied something');
    } finally {
      await pool.end();
      await dropDatabase(server.url, url);
    }
  });
});
