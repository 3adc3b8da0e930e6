import { on } from 'node:events';
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * db.json's text in `dir` once it holds `needle`, read again at each change of the folder. A write is
 * acknowledged once it is in db.json's journal and reaches db.json itself only at the next compaction:
 * a test that edits db.json "by hand" must start from a file that holds the writes it depends on, or
 * its save puts back the older records (as any editor's stale buffer would).
 */
export async function compactedWithin(dir: string, needle: string): Promise<string> {
  // Watching (and buffering its events) before the first read: no change falls between the two.
  const watcher = watch(dir);
  const changes = on(watcher, 'change');
  try {
    for (;;) {
      const text = await readFile(join(dir, 'db.json'), 'utf8');
      if (text.includes(needle)) return text;
      await changes.next();
    }
  } finally {
    watcher.close();
  }
}
