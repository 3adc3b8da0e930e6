import { createServices } from '../src/compose.js';
import { loadConfig } from '../src/config/load.js';
import { testStoreConfig } from '../test/support/postgres.js';

/** The database roles the PostgreSQL benches' restauth signs tokens for. */
export const BENCH_ROLES = { anonymous: 'web_anon', authenticated: 'normal_user' };

/**
 * The restauth the PostgreSQL benches measure, on the database `url`: bcrypt cost 4 (the store's
 * cost shows, not the hash's), warn-level logs, its config beside the services.
 */
export async function benchServices(url: string, dir: string) {
  const config = await loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      // The default pool (10): on 2 cores, 20 connections measured 10-30 % slower (more backends
      // than cores switching), 4-8 about the same as 10.
      store: testStoreConfig(url),
      jwt: { secret: 'bench-secret-0123456789abcdef-0123456789' },
      roles: BENCH_ROLES,
      passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      logLevel: 'warn',
    },
  });
  return { config, services: await createServices(config, { info: () => {}, warn: () => {} }) };
}
