import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { isConnectionFault } from '../../src/stores/postgres/faults.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { linesLogger } from '../support/log-lines.js';
import { LoopExt4Folders, loopExt4Unavailable } from '../support/loop-ext4.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { faultAppConfig } from '../support/postgres-faults.js';
import { fillUp } from '../support/tmpfs.js';

/**
 * PostgreSQL's WAL on a disk that fills (its own small ext4 on a loop device, full to the last block,
 * the WAL kept by wal_keep_size so that it must grow). Unlike a data file that cannot grow (53100,
 * postgres-disk-full.test.ts), a WAL segment that cannot be made is a PANIC: the backend writing
 * a COMMIT aborts, the postmaster ends every backend, and its recovery, which must write WAL too,
 * fails, so the server shuts down until an operator frees space and starts it. Here that COMMIT is a
 * restauth sign-up's. What this shows: every request answers 503 with Retry-After (never a 500 or a
 * hang) while the server is down; once it is started again the same process serves, every sign-up
 * answered 200 is there, and the one answered 503 is not, so its retry signs up.
 */
const PASSWORD = 'correct horse battery';

describe(
  'a PostgreSQL whose WAL disk fills (a PANIC, then down until it is started)',
  { skip: ownClusterUnavailable() ?? loopExt4Unavailable() ?? false, timeout: 120_000 },
  () => {
    const folders = new LoopExt4Folders();
    const logged: string[] = [];
    let cluster: OwnCluster;
    let app: TestApp;
    let disk: string;

    before(async () => {
      ({ dir: disk } = await folders.mount());
      // The cluster runs as postgres (postgres-cluster.ts): it makes its WAL folder on the disk.
      const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
      await chown(disk, id('-u'), id('-g'));
      await chmod(join(disk, '..'), 0o711);
      cluster = await startOwnCluster({
        // 1 MiB segments: a 16 MiB disk holds several. Kept, so the WAL grows instead of recycling.
        wal: { dir: join(disk, 'pg_wal'), segmentMiB: 1 },
        settings: { wal_keep_size: '1GB' },
      });
      const config = faultAppConfig(cluster.url);
      app = await createTestApp({
        config: { ...config, store: { ...config.store, connectTimeout: 3 } },
        format: 'restauth',
        log: linesLogger('warn', logged),
      });
    });
    after(async () => {
      await app?.close();
      await cluster?.destroy();
      await folders.cleanUp();
    });

    const post = async (url: string, payload: object) => {
      const response = await app.app.inject({ method: 'POST', url: `/auth/v1${url}`, payload });
      return {
        status: response.statusCode,
        body: response.body,
        retryAfter: response.headers['retry-after'],
      };
    };
    const signUp = (email: string) => post('/signup', { email, password: PASSWORD });
    const signIn = (email: string) => post('/token?grant_type=password', { email, password: PASSWORD });
    const refresh = (token: string) => post('/token?grant_type=refresh_token', { refresh_token: token });
    const asAdmin = async <R extends pg.QueryResultRow>(sql: string) => {
      const admin = new pg.Client({ connectionString: cluster.url });
      admin.on('error', () => {});
      await admin.connect();
      try {
        return (await admin.query<R>(sql)).rows;
      } finally {
        await admin.end().catch(() => {});
      }
    };
    /**
     * Resolves once nothing accepts connections: the postmaster shut down. Nothing signals it: asked,
     * for a minute at most (it goes within seconds of the PANIC), then failing with what it waited for.
     */
    const serverDown = async () => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (Date.now() > deadline) throw new Error('the server still accepted connections after a minute');
        try {
          await asAdmin('SELECT 1');
        } catch (error) {
          if ((error as { code?: string }).code === 'ECONNREFUSED') return;
          if (!isConnectionFault(error)) throw error;
        }
      }
    };
    const assertOutage = (answer: { status: number; body: string; retryAfter: unknown }, what: string) => {
      assert.equal(answer.status, 503, `${what}: ${answer.body}`);
      assert.ok(answer.retryAfter, `${what}: Retry-After`);
      assert.equal((JSON.parse(answer.body) as { error_code?: string }).error_code, 'store_unavailable');
    };

    it('answers 503 with Retry-After while it is down, and once started loses no answered write', async () => {
      assert.equal((await signUp('first@acme.test')).status, 200);
      const signedIn = await signIn('first@acme.test');
      assert.equal(signedIn.status, 200, signedIn.body);
      const refreshToken = (JSON.parse(signedIn.body) as { refresh_token: string }).refresh_token;

      await fillUp(join(disk, 'filler'));
      // Move to the last WAL segment already made: the next that is needed cannot be.
      await asAdmin('CREATE TABLE burn (x int)');
      for (;;) {
        const [at] = await asAdmin<{ current: string; last: string }>(
          `SELECT pg_walfile_name(pg_current_wal_lsn()) AS current,
             (SELECT max(name) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$') AS last`,
        );
        if (at!.current >= at!.last) break;
        await asAdmin('INSERT INTO burn VALUES (1); SELECT pg_switch_wal()');
      }
      // Sign-ups fill that segment: the COMMIT of one of them needs the next.
      let signedUp = 0;
      let refused: Awaited<ReturnType<typeof signUp>> | undefined;
      while (!refused && signedUp < 5000) {
        const answer = await signUp(`during${signedUp}@acme.test`);
        if (answer.status === 200) signedUp++;
        else refused = answer;
      }
      assert.ok(refused, 'a sign-up met the full WAL disk');
      assertOutage(refused, 'the sign-up whose COMMIT met the full disk');
      await serverDown();
      assert.match(await cluster.log(), /PANIC: {2}could not write to file "pg_wal\/xlogtemp/u);

      assertOutage(await signUp('down@acme.test'), 'a sign-up while down');
      assertOutage(await signIn('first@acme.test'), 'a sign-in while down');
      assertOutage(await refresh(refreshToken), 'a refresh while down');
      const ready = await app.app.inject({ method: 'GET', url: '/ready' });
      assert.equal(ready.statusCode, 503);
      assert.ok(ready.headers['retry-after'], '/ready: Retry-After');

      // The operator frees space and starts the server, which recovers.
      await rm(join(disk, 'filler'));
      await cluster.start();
      // The COMMIT the PANIC cut is ambiguous: its record can reach the WAL before the server goes down
      // and the answer is lost with the connection (seen under load). Then the 503's sign-up is whole
      // (user, account, identity and session in its one transaction), never half-done.
      const refusedEmail = `during${signedUp}@acme.test`;
      const [counted] = await asAdmin<{ during: number; refused: number; whole: number }>(
        `SELECT count(*) FILTER (WHERE email LIKE 'during%')::int AS during,
           count(*) FILTER (WHERE email = '${refusedEmail}')::int AS refused,
           count(*) FILTER (WHERE email = '${refusedEmail}'
             AND EXISTS (SELECT 1 FROM restauth.accounts a WHERE a.uid = u.id)
             AND EXISTS (SELECT 1 FROM auth.identities i WHERE i.user_id = u.id)
             AND EXISTS (SELECT 1 FROM auth.sessions s WHERE s.user_id = u.id))::int AS whole
         FROM auth.users u`,
      );
      assert.equal(counted!.during, signedUp + counted!.refused, 'each 200 kept');
      assert.equal(counted!.whole, counted!.refused, 'the 503 not half-done');

      const retried = await signUp(refusedEmail);
      if (counted!.refused === 0) assert.equal(retried.status, 200, retried.body);
      else assert.equal(JSON.parse(retried.body).error_code, 'user_already_exists', retried.body);
      assert.equal((await signIn(refusedEmail)).status, 200);
      const refreshed = await refresh(refreshToken);
      assert.equal(refreshed.status, 200, `the refresh refused while down works: ${refreshed.body}`);
      assert.equal((await app.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);
      const messages = logged.map((line) => (JSON.parse(line) as { msg: string }).msg);
      assert.equal(
        messages.filter((message) => message.includes('is unavailable')).length,
        1,
        messages.join('\n'),
      );
      assert.ok(
        messages.some((message) => message.includes('is reachable again')),
        messages.join('\n'),
      );
    });
  },
);
