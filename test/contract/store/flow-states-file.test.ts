import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileBackend } from '../../../src/stores/file/backend.js';
import { runFlowStateContract } from './flow-states-contract.js';

const quiet = { info: () => {}, warn: () => {} };

runFlowStateContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-flow-states-'));
  const open = () =>
    openFileBackend(
      {
        stateDir: dir,
        store: {
          type: 'file',
          dataFile: join(dir, 'db.json'),
          credentialsFile: join(dir, 'credentials.json'),
          usersProp: 'users',
          userIdProp: 'id',
        },
      },
      quiet,
    );
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
