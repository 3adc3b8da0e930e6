import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { REFUSED_PORT } from '../support/free-port.js';
import { dropDatabase, testPostgres } from '../support/postgres.js';
import { spawnRestauth } from '../support/process.js';
import { cliTempDir, runCli } from '../support/run-cli.js';
import { sinkMailSettings, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * `restauth doctor` against real parts: a file store folder (with a server
 * running on it, and damaged), a real PostgreSQL before and after its
 * migrations and one that is not there, a real SMTP server and a closed port.
 */
const SECRET = 'a-private-secret-for-the-doctor-0123456789';
const ENV = { RESTAUTH_JWT_SECRET: SECRET };

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

async function doctor(dir: string, env: NodeJS.ProcessEnv = {}) {
  const result = await runCli(dir, ['doctor', '--json'], { ...ENV, ...env });
  const checks = JSON.parse(result.stdout) as Check[];
  const find = (name: string) => checks.filter((check) => check.name === name);
  return { code: result.code, stderr: result.stderr, checks, find };
}

describe('restauth doctor', () => {
  let sink: SmtpSink;
  before(async () => {
    sink = await startSmtpSink();
  });
  after(async () => sink.close());

  it('file store: every check passes with a mail server that answers, and a running server is seen, not disturbed', async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ email: sinkMailSettings(sink) }));
    const running = await spawnRestauth(dir, [], ENV);
    try {
      const { code, checks, find, stderr } = await doctor(dir);
      assert.equal(code, 0, stderr);
      assert.deepEqual(
        checks.filter((check) => check.status !== 'ok'),
        [],
      );
      // Not the second server's "stop it first": what the held lock means, and when to act on it.
      const lock = find('instance lock')[0]?.detail ?? '';
      assert.match(lock, new RegExp(`in use by a running restauth \\(pid ${running.child.pid}\\b`));
      assert.match(lock, /nothing to do while it serves; stop it before `restauth users`/);
      assert.match(lock, /`fuser -v .*\.db\.json\.lock` names the process holding the lock/);
      assert.doesNotMatch(lock, /stop it first/);
      assert.match(find('mail')[0]?.detail ?? '', /answers/);
      const text = await runCli(dir, ['doctor'], ENV);
      assert.equal(text.code, 0);
      assert.match(text.stdout, /^ok {4}data folder: .* is writable$/m);
      const health = await fetch(`${running.url}/ready`);
      assert.equal(health.status, 200, 'the server serves on');
    } finally {
      await running.stop();
    }
  });

  it("file store: a server on another data file in the folder is seen by credentials.json's and the mail queue's locks", async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ email: sinkMailSettings(sink) }));
    const running = await spawnRestauth(dir, [], ENV);
    try {
      await writeFile(join(dir, 'other.json'), '{"users": []}\n');
      const result = await runCli(dir, ['doctor', 'other.json', '--json'], ENV);
      const locks = (JSON.parse(result.stdout) as Check[]).filter((check) => check.name === 'instance lock');
      const held = (file: RegExp) => locks.find((check) => file.test(check.detail))?.detail ?? '';
      assert.match(held(/other\.json/), /no restauth is running on .*other\.json/);
      for (const file of [/credentials\.json/, /mail-queue\.json/]) {
        assert.match(
          held(file),
          new RegExp(`in use by a running restauth \\(pid ${running.child.pid}\\b`),
          String(file),
        );
      }
    } finally {
      await running.stop();
    }
  });

  it('file store: a damaged db.json and a mail server that is not there fail, exit 1', async () => {
    const dir = await cliTempDir();
    await writeFile(
      join(dir, 'restauth.json'),
      JSON.stringify({ email: sinkMailSettings({ port: REFUSED_PORT }) }),
    );
    await writeFile(join(dir, 'db.json'), '{"users": [');
    const { code, find, stderr } = await doctor(dir);
    assert.equal(code, 1);
    assert.match(stderr, /2 checks failed/);
    const files = find('store file');
    assert.equal(files.find((check) => check.detail.includes('db.json'))?.status, 'fail');
    assert.equal(find('mail')[0]?.status, 'fail');
    assert.match(find('mail')[0]?.detail ?? '', /ECONNREFUSED/);
  });

  it('a weak setup is a failed check naming the key (a warning in development mode)', async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ siteUrl: 'http://app.example.com' }));
    const strict = await doctor(dir);
    assert.equal(strict.code, 1);
    assert.equal(strict.find('configuration')[0]?.status, 'fail');
    assert.match(
      strict.find('configuration')[0]?.detail ?? '',
      /^siteUrl \(file .*restauth\.json\) is "http:\/\/app\.example\.com"/,
    );
    const development = await doctor(dir, { RESTAUTH_DEV: '1' });
    assert.equal(development.find('configuration')[0]?.status, 'warn');
  });

  it("an SMTP url whose query turns TLS's certificate check off is a failed check naming it", async () => {
    const dir = await cliTempDir();
    // nodemailer reads ?tls.rejectUnauthorized=0 as a falsy value: no certificate is checked.
    const url = 'smtps://mailer:s3cret-pw@mail.example.com?tls.rejectUnauthorized=0';
    const { code, find, stderr } = await doctor(dir, { RESTAUTH_SMTP_URL: url });
    assert.equal(code, 1, stderr);
    const failed = find('configuration').filter((check) => check.status === 'fail');
    assert.match(
      failed.map((check) => check.detail).join('\n'),
      /^email\.url \(environment RESTAUTH_SMTP_URL\) sets tls\.rejectUnauthorized to 0, which turns the check off/mu,
    );
    assert.doesNotMatch(JSON.stringify(find('configuration')), /s3cret-pw/u);
  });

  it('a start-up warning (a wide allow-list glob) is a warning check, not only a line on stderr', async () => {
    const dir = await cliTempDir();
    const glob = 'https://*.vercel.app/**';
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ redirectAllowGlobs: [glob] }));
    const { code, find, stderr } = await doctor(dir);
    assert.equal(code, 0, stderr);
    const warned = find('configuration').filter((check) => check.status === 'warn');
    assert.equal(warned.length, 1, JSON.stringify(find('configuration')));
    assert.match(
      warned[0]?.detail ?? '',
      /^redirectAllowGlobs\[0\] .*also matches domains anyone can register/u,
    );
    assert.ok(
      !find('configuration').some((check) => check.status === 'ok'),
      'no "no weak setting" beside it',
    );
  });

  it('PostgreSQL: reachable, clock skew measured, migrations pending then applied; a database that is not there fails', async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    after(() => dropDatabase(server.url, url));
    const dir = await cliTempDir();
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ email: sinkMailSettings(sink) }));
    const env = { DATABASE_URL: url };

    const fresh = await doctor(dir, env);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.find('database')[0]?.status, 'ok');
    assert.equal(fresh.find('clock skew')[0]?.status, 'ok');
    assert.match(
      fresh.find('clock skew')[0]?.detail ?? '',
      /^the database's clock is -?\d+\.\d s (ahead of|behind) this machine's/,
    );
    assert.equal(fresh.find('migrations')[0]?.status, 'warn');
    assert.match(fresh.find('migrations')[0]?.detail ?? '', /pending .*restauth migrate/);

    const migrated = await runCli(dir, ['migrate'], { ...ENV, ...env });
    assert.equal(migrated.code, 0, migrated.stderr);
    const migratedChecks = await doctor(dir, env);
    assert.equal(migratedChecks.code, 0);
    assert.match(migratedChecks.find('migrations')[0]?.detail ?? '', /^\d+ applied, none pending$/);
    assert.equal(migratedChecks.find('migrations')[0]?.status, 'ok');
    assert.equal(migratedChecks.find('soft-deleted users')[0]?.status, 'ok');
    // Their absence on a table restauth's role does not own: test/postgres/pre-request-standing.test.ts.
    assert.deepEqual(migratedChecks.find('replica-mode triggers')[0], {
      name: 'replica-mode triggers',
      status: 'ok',
      detail: 'every one is enabled',
    });

    // A user soft-deleted where no trigger fires (pg_restore, logical replication) keeps its session.
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await pool.query(`INSERT INTO auth.users (instance_id, id, aud, role, email, created_at, updated_at)
        VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
          'restored@acme.test', now(), now())`);
      await pool.query(`INSERT INTO auth.sessions (id, user_id, created_at, updated_at)
        SELECT gen_random_uuid(), id, now(), now() FROM auth.users WHERE email = 'restored@acme.test'`);
      await pool.query(`BEGIN; SET LOCAL session_replication_role = replica;
        UPDATE auth.users SET deleted_at = now() WHERE email = 'restored@acme.test'; COMMIT`);
    } finally {
      await pool.end();
    }
    const restored = await doctor(dir, env);
    assert.equal(restored.code, 0);
    assert.equal(restored.find('soft-deleted users')[0]?.status, 'warn');
    assert.match(
      restored.find('soft-deleted users')[0]?.detail ?? '',
      /^1 session of 1 soft-deleted user .*sign-out/,
    );

    const nowhere = `postgres://postgres@127.0.0.1:${REFUSED_PORT}/none`;
    const down = await doctor(dir, { DATABASE_URL: nowhere, RESTAUTH_DB_CONNECT_TIMEOUT: '5' });
    assert.equal(down.code, 1);
    assert.equal(down.find('database')[0]?.status, 'fail');
    assert.match(down.find('database')[0]?.detail ?? '', /cannot reach PostgreSQL/);
  });
});
