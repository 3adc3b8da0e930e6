import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A new PGlite's data directory (a tar, as dumpDataDir makes it), made once per machine and PGlite
 * build: PGlite.create() runs initdb each time, about 2 s, where starting from the dump takes about
 * 0.5 s, and each test file is a process of its own. Written under a temporary name and renamed into
 * place whole, so files starting at the same time see it complete or not at all.
 */
export async function pgliteTemplate(make: () => Promise<Blob>): Promise<Blob> {
  const module = await stat(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
  const file = join(
    tmpdir(),
    `restauth-pglite-template-${process.getuid?.() ?? 0}-${module.size}-${Math.trunc(module.mtimeMs)}.tar`,
  );
  if (existsSync(file)) return new Blob([await readFile(file)]);
  const dump = await make();
  const folder = await mkdtemp(join(tmpdir(), 'restauth-pglite-template-making-'));
  try {
    await writeFile(join(folder, 'data.tar'), Buffer.from(await dump.arrayBuffer()));
    // Another process's template renamed into place first is replaced by this one, as fresh and whole.
    await rename(join(folder, 'data.tar'), file);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return dump;
}
