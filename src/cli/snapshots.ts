import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { DocumentStore } from '../core/ports/documents.js';

/**
 * json-server's snapshots: `s` then Enter on the server's standard input
 * writes the database as it is now to `<folder>/db-<milliseconds>.json`. It
 * is db.json's document, which holds no credentials (password hashes and
 * sessions live in credentials.json).
 */
export function snapshotOnKey(
  input: NodeJS.ReadableStream,
  folder: string,
  /** The database: a snapshot waits out a commit under way, as every read does (DocumentStore.settled). */
  database: Pick<DocumentStore, 'data' | 'settled'>,
  say: (line: string) => void,
): void {
  // nohup and services give no readable input: snapshots are then only unavailable.
  input.on('error', () => say("restauth: cannot read from standard input: no snapshots with 's'"));
  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    if (!chunk.split(/\r?\n/u).some((line) => line.trim().toLowerCase() === 's')) return;
    const file = join(folder, `db-${Date.now()}.json`);
    // wx: a snapshot never replaces a file (two within one millisecond: the second is reported, not lost).
    database
      .settled()
      .then(() => writeFile(file, `${JSON.stringify(database.data, null, 2)}\n`, { flag: 'wx' }))
      .then(
        () => say(`restauth: saved snapshot to ${relative(process.cwd(), file) || file}`),
        (error: unknown) => say(`restauth: snapshot not saved: ${(error as Error).message}`),
      );
  });
}
