import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/core/ports/store.js';
import { AuditFile, auditFilePath } from '../../src/stores/file/audit-file.js';
import { credentialsFromDisk, credentialsText } from '../../src/stores/file/credentials-dates.js';
import { CredentialsJournal, credentialsJournalPathFor } from '../../src/stores/file/credentials-journal.js';
import type { Journal, JournalBase } from '../../src/stores/file/journal.js';
import { KeptText } from '../../src/stores/file/kept-text.js';
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
  journalAt: (path: string, dir: string, base: () => JournalBase) => Journal<unknown>,
  asStored: {
    read(doc: Record<string, unknown>): void;
    text(doc: Record<string, unknown>): string;
  } | null = null,
): Promise<Record<string, unknown>> {
  const journalText = await readFile(journalPath, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const fileText = await readFile(file, 'utf8');
  const doc = JSON.parse(fileText) as Record<string, unknown>;
  asStored?.read(doc);
  // The journal's lines apply to the file only if they name it (journal.ts): a restart's rule.
  const base = KeptText.of(fileText, false);
  const dir = await mkdtemp(join(tmpdir(), 'restauth-durable-'));
  try {
    await writeFile(join(dir, 'journal'), journalText);
    await journalAt(join(dir, 'journal'), dir, () => base).recover(doc);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return asStored === null ? doc : (JSON.parse(asStored.text(doc)) as Record<string, unknown>);
}

/** What is durable of a db.json: the file plus its journal of record writes. */
export function durableData(dataFile: string): Promise<Record<string, unknown>> {
  return durable(
    dataFile,
    journalPathFor(dataFile),
    (path, _dir, base) => new RecordJournal(path, base) as Journal<unknown>,
  );
}

/**
 * What is durable of a credentials.json: the file plus its journal, as a restart would read them and
 * write them back (its dates as the file has them, not as numbers: see credentials-dates.ts).
 */
export function durableCredentials(credentialsFile: string): Promise<Record<string, unknown>> {
  return durable(
    credentialsFile,
    credentialsJournalPathFor(credentialsFile),
    // The journal's audit events go to a throwaway audit log (durableAudit reads them).
    (path, dir, base) =>
      new CredentialsJournal(path, new AuditFile(join(dir, 'audit.jsonl')), base) as Journal<unknown>,
    { read: credentialsFromDisk, text: credentialsText },
  );
}

/**
 * What is durable of the file store's audit log: its file plus the events still only in the
 * credentials journal (a sign-in's), as a restart would append them; newest first.
 */
export async function durableAudit(credentialsFile: string): Promise<AuditEvent[]> {
  const journalText = await readFile(credentialsJournalPathFor(credentialsFile), 'utf8').catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    },
  );
  const dir = await mkdtemp(join(tmpdir(), 'restauth-durable-'));
  try {
    await copyFile(auditFilePath(credentialsFile), join(dir, 'audit.jsonl')).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      },
    );
    await writeFile(join(dir, 'journal'), journalText);
    const log = new AuditFile(join(dir, 'audit.jsonl'));
    await new CredentialsJournal(join(dir, 'journal'), log).recover({ passwords: [] });
    const { events } = await log.list({ page: 1, perPage: 1_000_000 });
    await log.close();
    return events;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
