import { dirname } from 'node:path';
import { CONFIG_FILE_NAMES } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { snapshotFiles, type PrivateNames } from '../data/private-files.js';
import { auditFilePath } from '../stores/file/audit-file.js';
import { credentialsJournalPathFor } from '../stores/file/credentials-journal.js';
import { rejectedCopies } from '../stores/file/file-database.js';
import { journalPathFor } from '../stores/file/record-journal.js';

/**
 * restauth's own files and folders on the file store, which the static folder never serves: `--static .`
 * (json-server's way to serve a project's index.html) makes the project folder, where they are, public.
 * `paths` by real path; `names` by name in their folder: copies and files written later under new names.
 */
export function restauthFiles(
  config: Config,
  store: { dataFile: string; credentialsFile: string },
): { privatePaths: string[]; privateNames: PrivateNames[] } {
  const { dataFile, credentialsFile } = store;
  return {
    privatePaths: [
      dataFile,
      credentialsFile,
      journalPathFor(dataFile),
      credentialsJournalPathFor(credentialsFile),
      auditFilePath(credentialsFile),
      config.stateDir,
      config.outboxDir,
      ...(config.configFile ? [config.configFile] : []),
    ],
    privateNames: [
      snapshotFiles(config.data.snapshots),
      rejectedCopies(dataFile),
      rejectedCopies(credentialsFile),
      // A config file restauth did not read (config.json left from json-data-server beside restauth.json,
      // with its jwtSecret) is as private as the one it read: in the project folder, by name.
      ...[config.configFile, dataFile].flatMap((file) =>
        file === null
          ? []
          : [{ folder: dirname(file), named: (name: string) => CONFIG_FILE_NAMES.includes(name) }],
      ),
    ],
  };
}
