import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { within } from '../support/child-waits.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import type { RestauthProcess } from '../support/process.js';
import { restauthWithShortBounds, served } from '../support/restauth-short-bounds.js';

/**
 * A stop (SIGTERM) of restauth while its PostgreSQL is SIGSTOPped: the kernel keeps the connections
 * open and nothing answers on them, so a close that waited for a goodbye from the server (pg's end
 * of a pooled connection, the mail queue's last look, a request's statement) would wait for ever,
 * and the operator's only way out would be SIGKILL. Each of those is bounded (store.queryTimeout,
 * store.connectTimeout): the process exits 0, and the requests in flight are answered, not dropped.
 * The waits below only guard against a hang; nothing is timed.
 */
describe(
  'SIGTERM while PostgreSQL is stopped (SIGSTOP)',
  { skip: ownClusterUnavailable() ?? false, timeout: 300_000 },
  () => {
    let cluster: OwnCluster | undefined;
    let dir: string | undefined;
    let instance: RestauthProcess | undefined;
    after(async () => {
      await cluster?.resume();
      if (instance?.child.exitCode === null) await instance.kill();
      await cluster?.destroy();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('exits 0 with the pool’s connections dead, answering the requests in flight', async () => {
      cluster = await startOwnCluster();
      ({ dir, instance } = await restauthWithShortBounds(cluster, 'restauth-sigterm-stopped-'));
      const url = instance.url;
      const post = (path: string, body: unknown) =>
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(
          (response) => response.status,
          // Sent as the server stopped listening: refused, which is an answer too (not a hang).
          () => 'refused' as const,
        );
      const credentials = { email: 'idle@example.com', password: 'a passphrase' };
      // Pooled connections (and a mail queued in the PostgreSQL outbox) before the stop.
      const status = async (path: string) => {
        const answer = await post(path, credentials);
        return { status: answer === 'refused' ? 0 : answer };
      };
      assert.equal((await served(() => status('/auth/v1/signup'))).status, 200);
      assert.equal((await served(() => status('/auth/v1/token?grant_type=password'))).status, 200);

      await cluster.pause();
      // A request meets the stopped server first: the pool's connections are stuck in it.
      assert.equal(await post('/auth/v1/token?grant_type=password', credentials), 503);
      const inFlight = Array.from({ length: 4 }, () =>
        post('/auth/v1/token?grant_type=password', credentials),
      );
      const code = await within(instance.stop(), 120_000, () => `no exit:\n${instance!.output()}`);
      assert.equal(code, 0, instance.output());
      for (const answer of await Promise.all(inFlight))
        assert.ok([503, 'refused'].includes(answer), `${answer}`);
      assert.doesNotMatch(instance.output(), /Unhandled|unexpected error/u);
    });
  },
);
