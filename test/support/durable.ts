import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialsJournal, credentialsJournalPathFor } from '../../src/stores/file/credentials-journal.js';
import type { Journal } from '../../src/stores/file/journal.js';
import { journalPathFor, RecordJournal } from '../../src/stores/file/record-journal.js';

/**
 * What is durable of a file of the file store: the file, plus the
 * acknowledged writes still in its journal, applied by the same code a
 * restart runs (the journal is only read). The journal is read first: a
 * compaction between the two reads rewrites the file before it empties the
 * journal, so a line gone from the journal is in the file read after it.
 */
async function durable(
  file: string,
  journalPath: string,
  journalAt: (path: string) => Journal<unknown>,
): Promise<Record<string, unknown>> {
  const journalText = await readFile(journalPath, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const doc = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const dir = await mkdtemp(join(tmpdir(), 'restauth-durable-'));
  try {
    await writeFile(join(dir, 'journal'), journalText);
    await journalAt(join(dir, 'journal')).recover(doc);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return doc;
}

/** What is durable of a db.json: the file plus its journal of record writes. */
export function durableData(dataFile: string): Promise<Record<string, unknown>> {
  return durable(dataFile, journalPathFor(dataFile), (path) => new RecordJournal(path) as Journal<unknown>);
}

/** What is durable of a credentials.json: the file plus its journal, as a restart would read them. */
export function durableCredentials(credentialsFile: string): Promise<Record<string, unknown>> {
  return durable(
    credentialsFile,
    credentialsJournalPathFor(credentialsFile),
    (path) => new CredentialsJournal(path) as Journal<unknown>,
  );
}
