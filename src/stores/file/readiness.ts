import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readinessOf, type Readiness } from '../../core/ports/readiness.js';
import { isDescriptorExhaustion, noDescriptorLeft } from '../../lib/storage-failure.js';
import { mountPoints, replaceability } from './replaceable.js';
import type { StorageHealth } from './storage-health.js';

/**
 * Ready when the folders of the data file and the credentials file are
 * writable: a folder made read-only, or its volume remounted read-only,
 * fails every write (and access() says so even to root, with EROFS). And when
 * each file can be replaced (replaceability: one mounted on its own, immutable or
 * read-only fails every rewrite, while its journal still takes appends). And
 * while the database takes writes: a journal that reached its bound because
 * its file cannot be brought up to date with it refuses them (`journals: full`,
 * see FileDatabase.journalsFull), and while the audit log takes events: one that reached its bound
 * because it cannot be pruned refuses them (`auditLog: full`, see AuditFile.full). And while the
 * process can open a file: with every descriptor in use (EMFILE), each rewrite fails (503) until some close.
 * And while the device takes writes: after one failed with EIO, until a small write succeeds (StorageHealth).
 */
export async function fileReadiness(
  paths: {
    dataFile: string;
    credentialsFile: string;
  },
  database?: { readonly journalsFull: boolean; readonly auditLog?: { readonly full: boolean } },
  storage?: Pick<StorageHealth, 'deviceFailing'>,
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
  const openFiles = await descriptorLeft(dirname(paths.dataFile));
  const deviceFailing = (await storage?.deviceFailing()) === true;
  return readinessOf({
    // Named only when failing: the limit is the process's, whatever the folders.
    ...(openFiles !== 'ok' && { openFiles }),
    dataFolder: foldersWritable ? 'ok' : 'not writable',
    // Named only when failing, as the journals below.
    ...(dataFile !== 'ok' && { dataFile }),
    ...(credentialsFile !== 'ok' && { credentialsFile }),
    // Named only when full: a rare state, and the answer probes and dashboards match otherwise stays as it was.
    ...(database?.journalsFull && { journals: 'full' }),
    // Named only when failing: a disk gone bad, a file system shut down after an error.
    ...(deviceFailing && { device: 'failing writes (EIO)' }),
    // The audit log at its bound because prunes fail (AuditFile.full): sign-ins' events are refused.
    ...(database?.auditLog?.full && { auditLog: 'full' }),
  });
}

/** Whether the process can open one more file: opens `folder` (no write, no inode) and closes it. */
async function descriptorLeft(folder: string): Promise<string> {
  try {
    await (await open(folder, 'r')).close();
    return 'ok';
  } catch (error) {
    if (!isDescriptorExhaustion(error)) return 'ok'; // A folder gone or unreadable: the checks below say so.
    return noDescriptorLeft(error);
  }
}
