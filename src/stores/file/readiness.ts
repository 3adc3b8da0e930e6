import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readinessOf, type Readiness } from '../../core/ports/readiness.js';
import { mountPoints, replaceability } from './replaceable.js';

/**
 * Ready when the folders of the data file and the credentials file are
 * writable: a folder made read-only, or its volume remounted read-only,
 * fails every write (and access() says so even to root, with EROFS). And when
 * each file can be replaced (replaceability: one mounted on its own, immutable or
 * read-only fails every rewrite, while its journal still takes appends). And
 * while the database takes writes: a journal that reached its bound because
 * its file cannot be brought up to date with it refuses them (`journals: full`,
 * see FileDatabase.journalsFull), and while the audit log takes events: one that reached its bound
 * because it cannot be pruned refuses them (`auditLog: full`, see AuditFile.full).
 */
export async function fileReadiness(
  paths: {
    dataFile: string;
    credentialsFile: string;
  },
  database?: { readonly journalsFull: boolean; readonly auditLog?: { readonly full: boolean } },
): Promise<Readiness> {
  const writable = async (folder: string) =>
    access(folder, constants.W_OK).then(
      () => 'ok',
      () => 'not writable',
    );
  const folders = [...new Set([dirname(paths.dataFile), dirname(paths.credentialsFile)])];
  const states = await Promise.all(folders.map(writable));
  const foldersWritable = states.every((state) => state === 'ok');
  // A folder that cannot be written says it all: its files are not named on top.
  const mounts = foldersWritable ? await mountPoints() : new Set<string>();
  const [dataFile, credentialsFile] = foldersWritable
    ? await Promise.all([
        replaceability(paths.dataFile, mounts),
        replaceability(paths.credentialsFile, mounts),
      ])
    : ['ok', 'ok'];
  return readinessOf({
    dataFolder: foldersWritable ? 'ok' : 'not writable',
    // Named only when failing, as the journals below.
    ...(dataFile !== 'ok' && { dataFile }),
    ...(credentialsFile !== 'ok' && { credentialsFile }),
    // Named only when full: a rare state, and the answer probes and dashboards match otherwise stays as it was.
    ...(database?.journalsFull && { journals: 'full' }),
    // The audit log at its bound because prunes fail (AuditFile.full): sign-ins' events are refused.
    ...(database?.auditLog?.full && { auditLog: 'full' }),
  });
}
