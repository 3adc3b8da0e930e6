import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { FileStoreConfig } from '../../src/config/schema.js';
import { createTestApp, type TestApp } from './app.js';
import { FAST_HASHING } from './gotrue.js';

/**
 * Servers started in one temp folder on file stores (two mock APIs side by side, a restart), each a
 * GoTrue dialect with sign-up confirmed at once. Call from a describe: the servers still running and
 * the folder are removed after the file's tests.
 */
export function serversInOneFolder(prefix: string) {
  const running = new Set<TestApp>();
  let dir: string | undefined;
  after(async () => {
    for (const app of running) await app.close().catch(() => {});
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return {
    /** Makes the folder with the named data files, each holding empty `users` and `posts`. */
    async make(dataFiles: string[]): Promise<void> {
      dir = await mkdtemp(join(tmpdir(), prefix));
      for (const name of dataFiles) await writeFile(join(dir, name), '{"users": [], "posts": []}\n');
    },
    async start(store: Partial<Omit<FileStoreConfig, 'type'>>): Promise<TestApp> {
      const app = await createTestApp({
        format: 'restauth',
        dir,
        config: {
          store: { type: 'file', ...store },
          passwords: FAST_HASHING,
          signup: { confirmEmail: false },
          dialects: { gotrue: {} },
        },
      });
      running.add(app);
      return app;
    },
    async stop(app: TestApp): Promise<void> {
      running.delete(app);
      await app.close();
    },
  };
}
