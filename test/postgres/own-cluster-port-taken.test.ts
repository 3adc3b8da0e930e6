import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
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
      // The intruder binds first, on a port the system picks: a port chosen before would be free to be
      // taken by another process in between, and the intruder's own bind would fail.
      const intruder = createServer();
      await new Promise<void>((resolve) => intruder.listen(0, '127.0.0.1', resolve));
      const { port } = intruder.address() as AddressInfo;
      try {
        await assert.rejects(startOwnCluster({ port }), { code: 'EADDRINUSE' });
      } finally {
        await new Promise((resolve) => intruder.close(resolve));
      }
    });
  },
);
