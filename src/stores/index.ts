import type { Config } from '../config/schema.js';
import type { Backend, BackendLogger } from './backend.js';

export type { Backend, BackendLogger } from './backend.js';

/**
 * The one place that picks a store: a new store is a folder with a backend.ts, and one case here.
 * Each is imported when picked: file mode never loads pg and the PostgreSQL store (start-up time, memory).
 */
export async function openBackend(config: Config, logger: BackendLogger): Promise<Backend> {
  const { store } = config;
  switch (store.type) {
    case 'file':
      return (await import('./file/backend.js')).openFileBackend({ ...config, store }, logger);
    case 'postgres':
      return (await import('./postgres/backend.js')).openPostgresBackend({ ...config, store }, logger);
  }
}
