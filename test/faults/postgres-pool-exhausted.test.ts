import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { linesLogger } from '../support/log-lines.js';
import { faultAppConfig, useFaultApp } from '../support/postgres-faults.js';

/**
 * Every connection of restauth's pool held (long statements, locks, a burst beyond store.poolMax)
 * while PostgreSQL is up: a request waits store.connectTimeout for a connection, then answers 503
 * with Retry-After. It was logged as "PostgreSQL ... is unavailable" and /ready answered
 * `database: unreachable` after a wait of its own: an operator looked for an outage that was not
 * there. The pool is held for real by checking out its connections.
 */
const POOL_MAX = 2;
/** Long enough for a new connection on a loaded machine; each refused request waits it out. */
const CONNECT_TIMEOUT = 3;

describe('a PostgreSQL pool whose every connection is held', () => {
  const logged: string[] = [];
  const t = useFaultApp({
    log: linesLogger('warn', logged),
    config: (url) => ({
      store: { ...faultAppConfig(url, POOL_MAX).store, connectTimeout: CONNECT_TIMEOUT },
    }),
  });
  const ready = async () => {
    const response = await t.app.app.inject({ method: 'GET', url: '/ready' });
    return { status: response.statusCode, body: response.json() as { checks: Record<string, string> } };
  };

  it('answers 503 with Retry-After, says the pool is exhausted, and serves once it is freed', async () => {
    assert.equal((await t.signUp('before@acme.test')).statusCode, 200);
    const { pool } = t.app.services.store as unknown as { pool: pg.Pool };
    const held = await Promise.all(Array.from({ length: POOL_MAX }, () => pool.connect()));
    try {
      const refused = await t.signUp('during@acme.test');
      assert.equal(refused.statusCode, 503, refused.body);
      assert.ok(refused.headers['retry-after'], 'Retry-After');
      assert.equal(refused.json().error_code, 'store_unavailable');

      // Asked while a sign-up waits: answered from the pool's state, or after the probe's own wait.
      const waiting = t.signUp('waiting@acme.test');
      const probe = await ready();
      assert.equal(probe.status, 503);
      assert.equal(probe.body.checks.database, 'pool exhausted');
      assert.equal((await waiting).statusCode, 503);

      assert.ok(
        logged.some((line) => line.includes('every connection of restauth')),
        logged.join('\n'),
      );
      assert.ok(!logged.some((line) => line.includes('is unavailable')), logged.join('\n'));
      // Warned once a minute, not once per request.
      assert.equal(logged.filter((line) => line.includes('every connection of restauth')).length, 1);
    } finally {
      for (const client of held) client.release();
    }
    const after = await t.signUp('after@acme.test');
    assert.equal(after.statusCode, 200, after.body);
    assert.equal((await ready()).status, 200);
  });
});
