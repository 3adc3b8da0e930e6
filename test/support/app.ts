import type { Logger } from 'pino';
import { createAppOnFiles, type AppOnFilesOptions, type TestApp } from './app-on-files.js';
import { capturedLogger, gatherSecrets, rememberSecret } from './log-capture.js';

export type { TestApp } from './app-on-files.js';

/**
 * A real restauth app on real files in a temp folder, configured the way a
 * user would: by writing the config file in one of the three formats. Its log
 * (default: the file's capture, at trace) and the secrets its requests carry
 * are scanned for leaks once the test file is done (log-capture.ts).
 */
export async function createTestApp(options: AppOnFilesOptions & { log?: Logger }): Promise<TestApp> {
  const started = await createAppOnFiles({
    ...options,
    log: options.log ?? capturedLogger(),
    beforeReady: gatherSecrets,
  });
  rememberSecret(started.config.jwt.secret);
  return started;
}
