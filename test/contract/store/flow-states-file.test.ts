import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileBackendIn } from '../../support/file-backend.js';
import { runFlowStateContract } from './flow-states-contract.js';

runFlowStateContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-flow-states-'));
  const open = () => openFileBackendIn(dir, { stateDir: dir });
  let backend = await open();
  return {
    flowStates: backend.flowStates,
    reopen: async () => {
      await backend.close();
      backend = await open();
      return backend.flowStates;
    },
    cleanup: async () => {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
