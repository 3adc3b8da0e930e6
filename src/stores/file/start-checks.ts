import { stat } from 'node:fs/promises';
import { isPlainObject } from '../../lib/is-plain-object.js';
import { readStoreFile } from './store-file.js';
import { ifMissing } from '../../lib/if-missing.js';

/**
 * The refusals of the file store at start. db.json and credentials.json are
 * two halves of one store: when one is missing while the other holds users,
 * the likely cause is a wrong path (`restauth dbb.json`) or a lost file, and
 * creating the missing half empty would lock every user out (or, before,
 * delete every password hash as "orphans"). restauth refuses instead, naming
 * both files, and changes nothing.
 *
 * A db.json with users and no credentials.json is also how a json-server
 * project starts (users written by hand, none with a password yet): that
 * starts. It is refused only when the credentials' audit log shows restauth
 * kept credentials at that path before (every sign-up is in it).
 */
export async function refuseHalfAStore(files: {
  dataFile: string;
  credentialsFile: string;
  auditFile: string;
  usersProp: string;
}): Promise<void> {
  const data = await readJsonIfPresent(files.dataFile);
  const credentials = await readJsonIfPresent(files.credentialsFile);
  if (data === 'missing' && credentials !== 'missing') {
    const count = credentialUserCount(credentials);
    if (count > 0) {
      throw startRefusal(
        `${files.dataFile} does not exist, but ${files.credentialsFile} holds the credentials of ${count} ` +
          `user(s); refusing to start, so that nothing is created or removed. Check the data file's path ` +
          `(a typo?), or move ${files.credentialsFile} away to start with no users.`,
      );
    }
  }
  if (credentials === 'missing' && data !== 'missing') {
    const count = dataUserCount(data, files.usersProp);
    if (count > 0 && (await exists(files.auditFile))) {
      throw startRefusal(
        `${files.credentialsFile} does not exist, but ${files.dataFile} holds ${count} user(s) under ` +
          `"${files.usersProp}" and ${files.auditFile} shows credentials were kept there; refusing to start: ` +
          `an empty credentials file would lock every user out. Restore ${files.credentialsFile} or check ` +
          `its path (store.credentialsFile).`,
      );
    }
  }
}

/**
 * A file's parsed JSON, 'missing' when it does not exist, or null when it
 * cannot be parsed (opening the store reports that, naming the file).
 */
async function readJsonIfPresent(path: string): Promise<unknown> {
  const bytes = await readStoreFile(path);
  if (bytes === null) return 'missing';
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, ifMissing(false));
}

function credentialUserCount(doc: unknown): number {
  if (!isPlainObject(doc)) return 0;
  const ids = new Set<string>();
  if (Array.isArray(doc.passwords)) {
    for (const entry of doc.passwords) if (isPlainObject(entry)) ids.add(String(entry.sub));
  }
  if (isPlainObject(doc.accounts)) for (const id of Object.keys(doc.accounts)) ids.add(id);
  return ids.size;
}

function dataUserCount(doc: unknown, usersProp: string): number {
  if (!isPlainObject(doc) || !Object.hasOwn(doc, usersProp)) return 0;
  const users = doc[usersProp];
  return Array.isArray(users) ? users.length : 0;
}

/** An error the command line prints as one line, without a stack (an E-code, as system errors have). */
/** A refusal to start that names its cause and its remedy: the CLI prints its message, not a stack. */
export function startRefusal(message: string): Error {
  return Object.assign(new Error(message), { code: 'EREFUSED' });
}

/** The login fields of a credentials.json account: a string, or none (null or absent). */
const LOGIN_FIELDS = ['username', 'email', 'phone'] as const;

/**
 * The accounts of credentials.json whose login fields are not strings, each as `"id".field is value`:
 * a hand edit (an address typed as a number, a name as a list). Read as they are, they crashed the
 * start deep in normalising ("key.normalize is not a function") instead of saying which user to fix.
 */
export function mistypedLogins(accounts: Record<string, unknown>): string[] {
  const found: string[] = [];
  for (const [id, account] of Object.entries(accounts)) {
    if (!isPlainObject(account)) {
      found.push(`${JSON.stringify(id)} is ${JSON.stringify(account)}, not an object`);
      continue;
    }
    for (const field of LOGIN_FIELDS) {
      const value = (account as Record<string, unknown>)[field];
      if (value !== undefined && value !== null && typeof value !== 'string') {
        found.push(`${JSON.stringify(id)}.${field} is ${JSON.stringify(value)}, not a string`);
      }
    }
  }
  return found;
}
