import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { ownClusterUnavailable, startOwnCluster } from '../support/postgres-cluster.js';

/**
 * A throwaway cluster's port is chosen before pg_ctl binds it, and another process may take it in
 * between. startOwnCluster then says EADDRINUSE, which onFreePort answers by starting on another
 * port (test/lib/free-port-retry.test.ts); a cluster on a port the test named is not moved.
 */
describe(
  'a throwaway cluster on a taken port',
  { skip: ownClusterUnavailable() ?? false, timeout: 120_000 },
  () => {
    it('fails with EADDRINUSE, so a free port is chosen again', async () => {
      const port = await freePort();
      const intruder = createServer();
      await new Promise<void>((resolve) => intruder.listen(port, '127.0.0.1', resolve));
      try {
        await assert.rejects(startOwnCluster({ port }), { code: 'EADDRINUSE' });
      } finally {
        await new Promise((resolve) => intruder.close(resolve));
      }
    });
  },
);
