import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileBackendIn } from '../../support/file-backend.js';
import { runRateLimitContract } from './rate-limits-contract.js';

runRateLimitContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-limits-'));
  const backend = await openFileBackendIn(dir);
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
