import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { loadConfig, type LoadOptions } from '../../src/config/load.js';

/** A fresh temp folder, removed when the test file ends. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-config-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Owner-only, as `restauth init` writes a config file: one others may read is warned of at the start. */
export async function writeJson(dir: string, name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2), {
    mode: 0o600,
  });
  return path;
}

/** loadConfig in `dir` with an empty environment, collecting warnings. */
export async function load(dir: string, options: LoadOptions = {}) {
  const warnings: string[] = [];
  const config = await loadConfig({
    cwd: dir,
    env: {},
    warn: (message) => warnings.push(message),
    ...options,
  });
  return { config, warnings };
}
