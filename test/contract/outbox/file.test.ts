import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileBackendIn } from '../../support/file-backend.js';
import { runOutboxContract } from './outbox-contract.js';

runOutboxContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-outbox-'));
  return {
    open: () => openFileBackendIn(dir),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
