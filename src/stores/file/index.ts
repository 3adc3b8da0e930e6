import type { FileStoreConfig } from '../../config/schema.js';
import { auditFilePath } from './audit-log.js';
import { FileDatabase, type FileDatabaseLogger } from './file-database.js';
import { FileStore } from './file-store.js';

export { auditFilePath } from './audit-log.js';
export { FileDatabase } from './file-database.js';
export { FileStore } from './file-store.js';

/**
 * Opens the file store on its two files (paths are absolute once the config
 * is loaded), takes the instance lock, and removes what a crash between the
 * two files' writes may have left: credentials without a user. The audit log
 * goes beside the credentials file (auditFilePath), under the same lock.
 */
export async function openFileStore(
  config: FileStoreConfig,
  logger?: FileDatabaseLogger,
): Promise<{ db: FileDatabase; store: FileStore }> {
  const db = await FileDatabase.open({
    dataFile: config.dataFile,
    credentialsFile: config.credentialsFile,
    logger,
  });
  try {
    const store = new FileStore(db, {
      usersProp: config.usersProp,
      userIdProp: config.userIdProp,
      auditFile: auditFilePath(config.credentialsFile),
    });
    const orphans = await store.removeOrphans();
    if (orphans.length > 0) {
      logger?.warn(
        `restauth: removed credentials of ${orphans.length} user(s) missing from ${config.dataFile}: ${orphans.join(', ')}`,
      );
    }
    return { db, store };
  } catch (error) {
    await db.close();
    throw error;
  }
}
