import type { Config } from '../config/schema.js';
import type { Backend, BackendLogger } from './backend.js';
import { openFileBackend } from './file/backend.js';
import { openPostgresBackend } from './postgres/backend.js';

export type { Backend, BackendLogger } from './backend.js';

/** The one place that picks a store: a new store is a folder with a backend.ts, and one case here. */
export function openBackend(config: Config, logger: BackendLogger): Promise<Backend> {
  const { store } = config;
  switch (store.type) {
    case 'file':
      return openFileBackend({ ...config, store }, logger);
    case 'postgres':
      return openPostgresBackend({ ...config, store }, logger);
  }
}
