import { join } from 'node:path';
import { openFileBackend } from '../../src/stores/file/backend.js';

/** Logs nothing. */
const QUIET = { info: () => {}, warn: () => {} };

/**
 * The file backend on db.json and credentials.json in `dir` (users in `users`, keyed by `id`), its state
 * in `stateDir` (default: dir/.restauth); `logger` logs nothing unless given.
 */
export function openFileBackendIn(
  dir: string,
  options: { stateDir?: string; logger?: Parameters<typeof openFileBackend>[1] } = {},
): ReturnType<typeof openFileBackend> {
  return openFileBackend(
    {
      stateDir: options.stateDir ?? join(dir, '.restauth'),
      store: {
        type: 'file',
        dataFile: join(dir, 'db.json'),
        credentialsFile: join(dir, 'credentials.json'),
        usersProp: 'users',
        userIdProp: 'id',
      },
    },
    options.logger ?? QUIET,
  );
}
