import { createTestApp, type TestApp } from './app.js';
import { FAST_HASHING } from './gotrue.js';

/**
 * An app with every auth dialect mounted at once (GoTrue at /auth/v1, json-data-server, json-server-auth,
 * postgrest-auth under /pg) and fast hashing: for what each dialect's answers must share. `files`: its
 * folder's files (db.json ...).
 */
export function createEveryDialectApp(files?: Record<string, string>): Promise<TestApp> {
  return createTestApp({
    format: 'restauth',
    config: {
      passwords: FAST_HASHING,
      dialects: {
        gotrue: {},
        jsonDataServer: {},
        jsonServerAuth: { enabled: true },
        postgrestAuth: { enabled: true, prefix: '/pg' },
      },
    },
    ...(files ? { files } : {}),
  });
}
