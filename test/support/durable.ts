import { readFile } from 'node:fs/promises';
import { journalPathFor, RecordJournal } from '../../src/stores/file/record-journal.js';

/**
 * What is durable of a db.json: the file, plus the acknowledged record writes
 * still in its journal, applied by the same code a restart runs (the journal
 * is only read).
 */
export async function durableData(dataFile: string): Promise<Record<string, unknown>> {
  const doc = JSON.parse(await readFile(dataFile, 'utf8')) as Record<string, unknown>;
  await new RecordJournal(journalPathFor(dataFile)).recover(doc);
  return doc;
}
