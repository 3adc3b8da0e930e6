import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { poolEmptied, useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';
import { linesLogger } from '../support/log-lines.js';

/**
 * The database refuses writes while it answers reads: a failover left the
 * URL on a server that is now a standby (hot standby: SQLSTATE 25006 for
 * every write), or an operator set it read-only for maintenance
 * (default_transaction_read_only, the same SQLSTATE). That is an outage of
 * writes, to be retried, not a bug: each write answers 503 with Retry-After
 * in the dialect's shape, reads and token checks go on, /ready says so, and
 * all works again once writes are allowed, in the same process.
 */
describe(
  'a PostgreSQL that turns read-only under a running app',
  // Sessions opened before ALTER DATABASE keep their setting: the test ends them (pg_terminate_backend),
  // which on PGlite would end the one session every connection shares.
  { skip: realServerOnly() ?? false },
  () => {
    const logged: string[] = [];
    const t = useFaultApp({
      log: linesLogger('warn', logged),
    });
    const refusalsWarned = () => logged.filter((line) => line.includes('refuses writes')).length;

    /**
     * Every new session of the database starts read-only (or not), and the pool's present ones end;
     * resolves once the pool has let them all go, so no request meets a terminated one (a 503 too).
     */
    async function setReadOnly(on: boolean): Promise<void> {
      await t.admin.query(
        `ALTER DATABASE ${t.database} SET default_transaction_read_only = ${on ? 'on' : 'off'}`,
      );
      const emptied = poolEmptied(t.app);
      await t.admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [t.database],
      );
      await emptied;
    }

    const signIn = (email: string) =>
      t.app.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email, password: 'correct horse battery' },
      });

    it('writes answer 503 with Retry-After, reads go on, /ready says so, and writes resume after', async () => {
      const before = await t.signUp('before@acme.test');
      assert.equal(before.statusCode, 200, before.body);
      const { access_token: accessToken, refresh_token: refreshToken } = before.json();

      await setReadOnly(true);
      try {
        // Each write meets the refusal on a fresh connection: the pool's old ones were terminated.
        for (const [name, response] of [
          ['sign-up', await t.signUp('during@acme.test')],
          ['sign-in', await signIn('before@acme.test')],
          [
            'refresh',
            await t.app.app.inject({
              method: 'POST',
              url: '/auth/v1/token?grant_type=refresh_token',
              payload: { refresh_token: refreshToken },
            }),
          ],
        ] as const) {
          assert.equal(response.statusCode, 503, `${name}: ${response.statusCode} ${response.body}`);
          assert.ok(response.headers['retry-after'], `${name}: Retry-After`);
          assert.equal(response.json().error_code, 'store_unavailable', name);
        }
        const user = await t.app.app.inject({
          method: 'GET',
          url: '/auth/v1/user',
          headers: { authorization: `Bearer ${accessToken}` },
        });
        assert.equal(user.statusCode, 200, `a read goes on: ${user.body}`);
        const ready = await t.app.app.inject({ method: 'GET', url: '/ready' });
        assert.equal(ready.statusCode, 503, ready.body);
        assert.equal(ready.json().checks.database, 'read-only');
      } finally {
        await setReadOnly(false);
      }

      const ready = await t.app.app.inject({ method: 'GET', url: '/ready' });
      assert.equal(ready.statusCode, 200, ready.body);
      const after = await t.signUp('during@acme.test');
      assert.equal(after.statusCode, 200, `the same process signs up again: ${after.body}`);
      const again = await signIn('before@acme.test');
      assert.equal(again.statusCode, 200, again.body);
    });

    it('after a failover, connections still on the read-only server are let go, and writes reach the primary', async () => {
      const { pool } = t.app.services.store as unknown as { pool: pg.Pool };
      const { access_token: accessToken } = (await signIn('before@acme.test')).json();
      await setReadOnly(true);
      // Reads fill the pool with sessions that refuse writes: connections left on a server that became a
      // standby, while the URL now names a primary (here: the database takes writes again for new sessions).
      const reads = await Promise.all(
        Array.from({ length: 4 }, () =>
          t.app.app.inject({
            method: 'GET',
            url: '/auth/v1/user',
            headers: { authorization: `Bearer ${accessToken}` },
          }),
        ),
      );
      for (const read of reads) assert.equal(read.statusCode, 200, read.body);
      await t.admin.query(`ALTER DATABASE ${t.database} SET default_transaction_read_only = off`);
      const stale = pool.totalCount;
      assert.ok(stale > 0, 'the pool holds read-only sessions');

      // Each refusal lets its connection go: within as many attempts as there were stale connections
      // (plus one), a sign-up meets a new session, which takes writes. Kept, they would refuse for ever.
      const statuses: number[] = [];
      for (let attempt = 0; attempt <= stale && statuses.at(-1) !== 200; attempt++) {
        const response = await t.signUp('failover@acme.test');
        statuses.push(response.statusCode);
        assert.ok([200, 503].includes(response.statusCode), response.body);
      }
      assert.equal(statuses.at(-1), 200, `statuses: ${statuses.join(', ')}`);
      for (let check = 0; check <= stale; check++) {
        const ready = await t.app.app.inject({ method: 'GET', url: '/ready' });
        if (ready.statusCode === 200) break;
        assert.equal(ready.json().checks.database, 'read-only', ready.body);
      }
      const ready = await t.app.app.inject({ method: 'GET', url: '/ready' });
      assert.equal(ready.statusCode, 200, `readiness let its stale sessions go too: ${ready.body}`);
    });

    it('warns of refused writes once a minute, and again at once after the clock was set back a day', async (context) => {
      await setReadOnly(true);
      try {
        const refused = async () => {
          const response = await t.signUp('clock@acme.test');
          assert.equal(response.statusCode, 503, response.body);
        };
        // The first write may meet a backend the server is still terminating (an outage, no refusal).
        await refused();
        // An hour on, past the warnings so far. Only Date is mocked: the pool's timers and the server
        // run as they do.
        const now = Date.now() + 3600_000;
        context.mock.timers.enable({ apis: ['Date'], now });
        const before = refusalsWarned();
        await refused();
        assert.equal(refusalsWarned(), before + 1, logged.join('\n'));
        context.mock.timers.setTime(now + 30_000);
        await refused();
        assert.equal(refusalsWarned(), before + 1, 'not again within the minute');
        // An NTP step back a day: the last warning is dated a day ahead. Read as "less than a minute
        // ago", it silenced the warning for the whole day while every write was refused.
        context.mock.timers.setTime(now - 24 * 3600 * 1000);
        await refused();
        assert.equal(refusalsWarned(), before + 2, logged.join('\n'));
        context.mock.timers.setTime(now - 24 * 3600 * 1000 + 30_000);
        await refused();
        assert.equal(refusalsWarned(), before + 2, 'once a minute on the clock as it now runs');
      } finally {
        context.mock.timers.reset();
        await setReadOnly(false);
      }
    });
  },
);
