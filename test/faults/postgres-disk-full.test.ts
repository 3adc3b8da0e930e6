import assert from 'node:assert/strict';
import { chownSync, mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';
import { mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';
import { linesLogger } from '../support/log-lines.js';

/**
 * PostgreSQL out of disk under a running server: a data file that cannot grow fails its statement
 * with SQLSTATE 53100 (disk_full), as the rest of class 53 does for memory or a configured limit.
 * Nothing was written, and it works again once space is freed: an outage to retry, answered 503
 * with Retry-After and warned once a minute, where each request answered 500. The users table is
 * moved to a tablespace on a small tmpfs, which a filler table then fills for real.
 */
function unavailable(): string | null {
  const tmpfs = tmpfsUnavailable();
  if (tmpfs) return tmpfs;
  if (process.env.DATABASE_URL)
    return 'a tablespace must be on the server machine: DATABASE_URL may be elsewhere';
  // PGlite keeps its files in memory: no tablespace on another file system.
  return realServerOnly() === null ? null : 'PGlite has no tablespaces on a file system of their own';
}

/** The uid and gid of `postgres`, which test/support/postgres.ts runs the test cluster as. */
function postgresOwner(): { uid: number; gid: number } {
  const fields = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((row) => row.split(':'))
    .find((row) => row[0] === 'postgres');
  if (!fields) throw new Error('no postgres user in /etc/passwd');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

describe('a PostgreSQL whose disk fills under a running app', { skip: unavailable() ?? false }, () => {
  const tablespace = `restauth_full_${process.pid}`;
  const logged: string[] = [];
  const t = useFaultApp({
    log: linesLogger('warn', logged),
  });
  let dir: string | undefined;

  // After useFaultApp's hooks: the app is up before, and its database dropped (emptying the
  // tablespace) before this after() drops the tablespace.
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'restauth-pg-full-'));
    mountTmpfs(dir, '512k');
    const { uid, gid } = postgresOwner();
    chownSync(dir, uid, gid);
    await t.admin.query(`CREATE TABLESPACE ${tablespace} LOCATION '${dir}'`);
  });
  after(async () => {
    const admin = new pg.Client({ connectionString: t.serverUrl });
    await admin.connect();
    try {
      await admin.query(`DROP TABLESPACE IF EXISTS ${tablespace}`);
    } finally {
      await admin.end();
    }
    if (dir) {
      unmount(dir);
      rmdirSync(dir);
    }
  });

  it('a sign-up that needs disk answers 503 with Retry-After, and works again once space is freed', async () => {
    const database = new pg.Client({ connectionString: t.url });
    await database.connect();
    try {
      await database.query(`ALTER TABLE auth.users SET TABLESPACE ${tablespace}`);
      assert.equal((await t.signUp('before@acme.test')).statusCode, 200);
      // Fill the tablespace: the filler grows a page at a time until the tmpfs refuses (53100).
      await database.query(`CREATE TABLE filler (pad text) TABLESPACE ${tablespace}`);
      await assert.rejects(
        database.query(
          `INSERT INTO filler SELECT repeat(md5(i::text), 60) FROM generate_series(1, 1000000) AS i`,
        ),
        (error: { code?: string }) => error.code === '53100',
      );

      // The users table's last page may still hold a few rows: sign up until one needs a new page.
      let refused: Awaited<ReturnType<typeof t.signUp>> | undefined;
      for (let i = 0; i < 200 && !refused; i++) {
        const res = await t.signUp(`during${i}@acme.test`);
        if (res.statusCode !== 200) refused = res;
      }
      assert.ok(refused, 'a sign-up met the full disk');
      assert.equal(refused.statusCode, 503, refused.body);
      assert.ok(refused.headers['retry-after'], 'Retry-After');
      assert.equal(refused.json().error_code, 'store_unavailable');
      // A second one is refused alike; the warning is not repeated within the minute.
      assert.equal((await t.signUp('again@acme.test')).statusCode, 503);
      const warned = logged.filter((line) => line.includes('is short of resources'));
      assert.equal(warned.length, 1, logged.join('\n'));

      await database.query('DROP TABLE filler');
      const after = await t.signUp('after@acme.test');
      assert.equal(after.statusCode, 200, `the same process signs up again: ${after.body}`);
    } finally {
      await database.end();
    }
  });
});
