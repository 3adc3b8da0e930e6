import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { linesLogger } from '../support/log-lines.js';
import { prlimitUnavailable, withoutFileDescriptors } from '../support/open-files.js';
import { poolEmptied, useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';

/**
 * The process out of file descriptors (EMFILE: `ulimit -n` reached by many connections) while its
 * pool holds no connection to PostgreSQL: a new connection cannot be opened, for want of a socket,
 * not because the database is down. Requests answer 503 with Retry-After, and /ready answers its
 * own 503 naming the open-file limit, where it answered the error reply's body (no `checks`), the
 * shape no probe or dashboard reads. All is well again once descriptors are free.
 */
describe(
  'PostgreSQL store with every file descriptor in use',
  { skip: realServerOnly() ?? prlimitUnavailable ?? false },
  () => {
    const logged: string[] = [];
    const t = useFaultApp({ log: linesLogger('warn', logged) });

    it('a request that needs a new connection answers 503, /ready says why, then all is well', async () => {
      assert.equal((await t.signUp('before@acme.test')).statusCode, 200);
      await t.app.services.idle();
      // The pool's connections ended, so the next request must open one.
      const emptied = poolEmptied(t.app);
      await t.admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [t.database],
      );
      await emptied;
      await withoutFileDescriptors(async () => {
        const during = await t.signUp('during@acme.test');
        assert.equal(during.statusCode, 503, during.body);
        assert.equal(during.json().error_code, 'over_capacity');
        assert.equal(during.headers['retry-after'], '5');
        const ready = await t.app.app.inject({ method: 'GET', url: '/ready' });
        assert.equal(ready.statusCode, 503, ready.body);
        assert.ok(ready.headers['retry-after'], 'Retry-After');
        assert.deepEqual(ready.json(), {
          status: 'unavailable',
          checks: {
            database: 'unknown',
            migrations: 'unknown',
            openFiles: 'none left (EMFILE): raise the limit (ulimit -n)',
          },
        });
      });
      assert.ok(!logged.some((line) => line.includes('unexpected error')), logged.join('\n'));
      assert.equal((await t.app.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);
      assert.equal((await t.signUp('during@acme.test')).statusCode, 200);
    });
  },
);
