import { createTestApp, type TestApp } from './app.js';
import { FAST_HASHING } from './gotrue.js';

/**
 * An app on files with anonymous sign-ins on and no confirmation (the shopping cart before
 * check-out), its data API serving `db` (db.json) under `rules`; `dialects` mounted beside GoTrue.
 */
export function createAnonymousDataApp(
  rules: Record<string, number>,
  db: Record<string, unknown>,
  dialects: Record<string, object> = {},
): Promise<TestApp> {
  return createTestApp({
    format: 'restauth',
    config: {
      passwords: FAST_HASHING,
      signup: { anonymousUsers: true, confirmEmail: false },
      dialects: { gotrue: {}, ...dialects },
      data: { rules },
    },
    files: { 'db.json': JSON.stringify(db) },
  });
}
