import { stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { DocumentStore } from '../core/ports/documents.js';

/**
 * json-server's snapshots: `s` then Enter on the server's standard input
 * writes the database as it is now to `<folder>/db-<milliseconds>.json`. It
 * is db.json's document, which holds no credentials (password hashes and
 * sessions live in credentials.json) but every private record and the users
 * collection: a snapshot is made no more readable than db.json itself (an
 * owner-only db.json gives owner-only snapshots, which json-server's umask
 * default of 0644 would not).
 */
export function snapshotOnKey(
  input: NodeJS.ReadableStream,
  folder: string,
  /** The database: a snapshot waits out a commit under way, as every read does (DocumentStore.settled). */
  database: Pick<DocumentStore, 'data' | 'settled'>,
  say: (line: string) => void,
  /** db.json: its permission bits are the snapshot's. */
  dataFile: string,
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
      .then(async () => {
        const mode = await modeOf(dataFile);
        await writeFile(file, `${JSON.stringify(database.data, null, 2)}\n`, { flag: 'wx', mode });
      })
      .then(
        () => say(`restauth: saved snapshot to ${relative(process.cwd(), file) || file}`),
        (error: unknown) => say(`restauth: snapshot not saved: ${(error as Error).message}`),
      );
  });
}

/** A file's permission bits; owner-only when it cannot be read (removed by hand since the start). */
async function modeOf(path: string): Promise<number> {
  return stat(path).then(
    (info) => info.mode & 0o777,
    () => 0o600,
  );
}
