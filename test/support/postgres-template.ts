import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A new cluster's data folder, copied from one initdb'd once per machine and PostgreSQL build: every
 * test file that starts a cluster (about 150 of them) paid an initdb, where a copy of its 40 MB costs a
 * tenth of it. The template is only ever read once made, and is made under a temporary name and
 * renamed into place whole, so files starting clusters at the same time (--test-concurrency above 1)
 * either see it complete or make their own and keep the first one renamed.
 *
 * `initdb(data)` makes a data folder at `data`; `prepare(folder)` gives a new folder to the cluster's
 * owner (the postgres user when the tests run as root).
 */
export async function dataFromTemplate(
  bin: string,
  data: string,
  initdb: (data: string) => Promise<unknown>,
  prepare: (folder: string) => Promise<void>,
): Promise<void> {
  const template = await templateOf(bin, initdb, prepare);
  // -a keeps the owner (postgres, as root) and the 0700 mode PostgreSQL insists on.
  await run('cp', ['-a', '--', template, data]);
}

const made = new Map<string, Promise<string>>();

function templateOf(
  bin: string,
  initdb: (data: string) => Promise<unknown>,
  prepare: (folder: string) => Promise<void>,
): Promise<string> {
  let template = made.get(bin);
  if (!template) {
    template = makeTemplate(bin, initdb, prepare);
    made.set(bin, template);
  }
  return template;
}

async function makeTemplate(
  bin: string,
  initdb: (data: string) => Promise<unknown>,
  prepare: (folder: string) => Promise<void>,
): Promise<string> {
  // Named by the server build it was made by: a PostgreSQL upgraded in place makes a new one.
  const server = await stat(join(bin, 'postgres'));
  const build = createHash('sha256')
    .update(`${bin}\0${server.size}\0${server.mtimeMs}`)
    .digest('hex')
    .slice(0, 16);
  const home = join(tmpdir(), `restauth-pg-template-${process.getuid?.() ?? 0}-${build}`);
  const data = join(home, 'data');
  if (existsSync(data)) return data;
  const building = await mkdtemp(join(tmpdir(), 'restauth-pg-template-making-'));
  try {
    await prepare(building);
    await initdb(join(building, 'data'));
    await rename(building, home);
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    // Another process renamed its template into place first: that one is used.
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(data)) return data;
    throw error;
  }
  return data;
}
