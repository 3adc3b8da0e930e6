import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import type { RestauthProcess } from '../support/process.js';
import { restauthWithShortBounds, served } from '../support/restauth-short-bounds.js';

/**
 * A PostgreSQL that hangs instead of refusing (a network partition, a stopped
 * server): its postmaster and backends are SIGSTOPped, so the kernel still
 * accepts connections and nothing ever answers on them. Without bounds on
 * the pool every request waits for ever. With store.connectTimeout at 2 s
 * and store.queryTimeout at 1 s, each request answers 503 with Retry-After: the
 * test ends because the answers arrive (a hang fails it by its timeout), and
 * the same process serves again after SIGCONT. A statement stuck on a lock
 * is cancelled by the server (statement_timeout): a 503 too, not a 500.
 */
/** More concurrent requests than the pool has connections: some wait for a free one. */
const CONCURRENT = 14;

// The timeout catches a hang, generously: a cluster and a server start take tens of seconds on a loaded machine.
describe('a PostgreSQL that hangs', { skip: ownClusterUnavailable() ?? false, timeout: 300_000 }, () => {
  let cluster: OwnCluster;
  let dir: string;
  let instance: RestauthProcess;

  before(async () => {
    cluster = await startOwnCluster();
    ({ dir, instance } = await restauthWithShortBounds(cluster, 'restauth-hang-'));
  });
  after(async () => {
    // First, so that a test that failed while the server was stopped does not leave it stopped.
    await cluster?.resume();
    await instance?.stop();
    await cluster?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${instance.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      text: await response.text(),
    };
  };
  const outages = () =>
    instance
      .output()
      .split('\n')
      .filter((line) => line.includes('is unavailable')).length;
  const signUp = (email: string) => post('/auth/v1/signup', { email, password: 'a passphrase' });
  const signIn = (email: string) =>
    post('/auth/v1/token?grant_type=password', { email, password: 'a passphrase' });
  const ready = async () => {
    const response = await fetch(`${instance.url}/ready`);
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      text: await response.text(),
    };
  };

  it('a statement stuck on a lock is cancelled at store.queryTimeout: 503, and the connection serves on', async () => {
    assert.equal((await served(() => signUp('first@example.com'))).status, 200);
    const holder = new pg.Client({ connectionString: cluster.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE');
      const stuck = await signUp('locked-out@example.com');
      assert.equal(stuck.status, 503, stuck.text);
      assert.ok(stuck.retryAfter);
      // The server cancelled it (statement_timeout): nothing waits for the lock any more. Had only the
      // client given up, its backend would still wait, unaware that its client left.
      const { rows } = await holder.query<{ waiting: number }>(
        "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
      );
      assert.equal(rows[0]!.waiting, 0);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    assert.equal((await served(() => signUp('locked-out@example.com'))).status, 200);
  });

  it('answers 503 with Retry-After while it hangs, and serves again once it answers', async () => {
    // Connections in the pool, and a user to sign in.
    assert.equal((await served(() => signUp('before@example.com'))).status, 200);
    assert.equal((await served(() => signIn('before@example.com'))).status, 200);
    const outagesBefore = outages();

    await cluster.pause();
    try {
      // Two rounds: the first meets pooled connections that stop answering (the query timeout), the
      // second only new connections that are accepted and never answered (the connect timeout).
      for (const round of [1, 2]) {
        const answers = await Promise.all([
          ...Array.from({ length: CONCURRENT / 2 }, (_, i) => signUp(`hang-${round}-${i}@example.com`)),
          ...Array.from({ length: CONCURRENT / 2 }, () => signIn('before@example.com')),
          ready(),
        ]);
        for (const answer of answers) {
          assert.equal(answer.status, 503, `round ${round}: ${answer.text}`);
          assert.ok(answer.retryAfter, `round ${round}: Retry-After on ${answer.text}`);
        }
      }
      // Logged as an outage once (or not again, had an earlier one not ended yet): not once per request.
      assert.ok(outages() - outagesBefore <= 1 && outages() >= 1, instance.output());
    } finally {
      await cluster.resume();
    }

    // New connections replace the destroyed ones.
    const after = await served(() => signUp('after@example.com'));
    assert.equal(after.status, 200, after.text);
    assert.equal((await served(() => signIn('before@example.com'))).status, 200);
    assert.equal((await served(ready)).status, 200);
    assert.equal(instance.child.exitCode, null, `alive:\n${instance.output()}`);
    assert.doesNotMatch(instance.output(), /Unhandled|unexpected error/u);
    assert.match(instance.output(), /reachable again/u);
  });
});
