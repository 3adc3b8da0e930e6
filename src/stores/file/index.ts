import { basename, dirname } from 'node:path';
import type { FileStoreConfig } from '../../config/schema.js';
import type { RateLimitCounter } from '../../core/ports/rate-limits.js';
import { removeLeftoverTempFiles } from '../../lib/atomic-write.js';
import { auditFilePath } from './audit-file.js';
import { dateText } from './credentials-dates.js';
import { FileDatabase, type FileDatabaseLogger } from './file-database.js';
import { FileStore } from './file-store.js';
import { FileMailQueue } from './outbox.js';
import { takeOverJsonServerAuthUsers } from './json-server-auth-takeover.js';
import { normalizeCredentials } from './records.js';
import { mistypedCredentials, refuseHalfAStore, startRefusal } from './start-checks.js';
import { StorageHealth } from './storage-health.js';

export { auditFilePath } from './audit-file.js';
export { FileDatabase } from './file-database.js';
export { FileStore } from './file-store.js';

/**
 * Opens the file store on its two files (paths are absolute once the config
 * is loaded) and takes the instance lock. It refuses to start when one file
 * is missing while the other holds users (start-checks.ts), and reports, never
 * removes, credentials whose user is missing from db.json. A json-server-auth
 * db.json's password hashes move to credentials.json (json-server-auth-takeover.ts). Under the lock it
 * removes the temp files a crash left beside its files. The audit log goes
 * beside the credentials file (auditFilePath), under the same lock.
 *
 * With `outboxFile`, the mail queue is opened there, under the same lock, and
 * the store writes mails into it with what they carry; held mails a crash
 * left are settled (see FileMailQueue.settleHeld). A damaged queue refuses
 * the start.
 */
export async function openFileStore(
  config: FileStoreConfig,
  logger?: FileDatabaseLogger,
  options: {
    outboxFile?: string;
    adoptEdits?: boolean;
    ownerProp?: string;
    /** The backend's rate-limit counters, where a password change ends the known clients (FileStoreOptions). */
    rateLimits?: Pick<RateLimitCounter, 'renew'>;
  } = {},
): Promise<{ db: FileDatabase; store: FileStore; outbox: FileMailQueue | null; storage: StorageHealth }> {
  await refuseHalfAStore({ ...config, auditFile: auditFilePath(config.credentialsFile) });
  // The folders the store writes in: the two files', the audit log's (the credentials'), the mail queue's.
  const storage = new StorageHealth(
    [config.dataFile, config.credentialsFile, options.outboxFile]
      .filter((file) => file !== undefined)
      .map((file) => dirname(file)),
  );
  const db = await FileDatabase.open({
    dataFile: config.dataFile,
    credentialsFile: config.credentialsFile,
    logger,
    adoptEdits: options.adoptEdits ?? false,
    auditFile: auditFilePath(config.credentialsFile),
    onCommit: () => storage.wrote(),
    onWriteFailed: (error) => storage.writeFailed(error),
  });
  let outbox: FileMailQueue | null = null;
  try {
    // Before the leftover temp files are looked for: its commit writes both files, and temp files are
    // only ever this process's own from here on.
    await takeOverJsonServerAuthUsers(db, config, logger);
    // What the start derived from db.json a reload must derive again: a db.json saved by hand under
    // --watch may bring json-server-auth's users too, taken over the same way once applied. One at a
    // time: a takeover whose commit fails reloads the files, which must not start another.
    let takingOver = false;
    db.onReload(() => {
      if (takingOver) return;
      takingOver = true;
      takeOverJsonServerAuthUsers(db, config, logger)
        .catch((error: unknown) =>
          logger?.warn(`restauth: json-server-auth's users not taken over: ${(error as Error).message}`),
        )
        .finally(() => (takingOver = false));
    });
    const auditFile = auditFilePath(config.credentialsFile);
    for (const file of [config.dataFile, config.credentialsFile, auditFile]) {
      const removed = await removeLeftoverTempFiles(file);
      if (removed.length > 0) {
        logger?.warn(
          `restauth: removed ${removed.length} temp file(s) of ${basename(file)} a crash left: ${removed.join(', ')}`,
        );
      }
    }
    outbox = options.outboxFile === undefined ? null : await FileMailQueue.open(options.outboxFile, logger);
    if (outbox) await settleHeldMails(outbox, db, logger);
    const store = new FileStore(db, {
      usersProp: config.usersProp,
      userIdProp: config.userIdProp,
      ...(options.ownerProp !== undefined ? { ownerProp: options.ownerProp } : {}),
      storage,
      ...(outbox ? { outbox } : {}),
      ...(logger ? { logger } : {}),
      ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
    });
    const mistyped = mistypedCredentials(normalizeCredentials(db.credentials));
    if (mistyped.length > 0) {
      throw startRefusal(
        `${config.credentialsFile}: fields of the wrong type (edited by hand?); refusing to start. ` +
          `Fix each (text may also be null where it is optional): ${mistyped.slice(0, 10).join('; ')}`,
      );
    }
    const collisions = store.loginCollisions();
    if (collisions.length > 0) {
      // Never merged silently: one account would take over the other's sign-in. An operator decides.
      // A refusal, not a crash: an operator's edit of either file (a login is kept in credentials.json,
      // or in db.json's users before restauth kept their credentials) is the usual cause.
      throw startRefusal(
        `${config.dataFile} and ${basename(config.credentialsFile)}: users share a login once names and addresses ` +
          `are normalised (trimmed, NFKC, case-folded); refusing to start. Rename or remove one of each: ` +
          collisions.join('; '),
      );
    }
    const lookalikes = store.lookalikeNames();
    if (lookalikes.length > 0) {
      // Both keep signing in (refusing one would lock a user out); new look-alikes of either are refused.
      logger?.warn(
        `restauth: ${config.dataFile} holds users whose names look alike (UTS #39 confusables), kept; ` +
          `consider renaming one of each: ${lookalikes.slice(0, 10).join('; ')}${lookalikes.length > 10 ? '; ...' : ''}`,
      );
    }
    const orphans = store.findOrphans();
    if (orphans.length > 0) {
      const shown = orphans.slice(0, 10).map((id) => JSON.stringify(id));
      logger?.warn(
        `restauth: ${config.credentialsFile} holds credentials of ${orphans.length} user(s) missing from ` +
          `${config.dataFile} (kept, not removed): ${shown.join(', ')}${orphans.length > 10 ? ', ...' : ''}`,
      );
    }
    return { db, store, outbox, storage };
  } catch (error) {
    await outbox?.close();
    await db.close();
    throw error;
  }
}

/** Releases the held mails whose token or account committed before a crash, drops the others (logged). */
async function settleHeldMails(outbox: FileMailQueue, db: FileDatabase, logger?: FileDatabaseLogger) {
  const credentials = normalizeCredentials(db.credentials);
  // A welcome mail's hold names its account's creation date as the file has it.
  const createdAt = (user: string) => {
    const account = credentials.accounts[user];
    return account === undefined ? undefined : dateText(account.createdAt);
  };
  const { released, dropped } = await outbox.settleHeld((hold) =>
    'token' in hold ? hold.token in credentials.oneTimeTokens : createdAt(hold.user) === hold.createdAt,
  );
  if (released + dropped > 0) {
    logger?.warn(
      `restauth: a crash left ${released + dropped} mail(s) written before their token or account: ` +
        `${released} sent now (it committed), ${dropped} dropped (it never did)`,
    );
  }
}
