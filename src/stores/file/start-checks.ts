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

/**
 * A refusal to start that names its cause and its remedy: the command line prints it as one line,
 * without a stack (an E-code, as system errors have).
 */
export function startRefusal(message: string): Error {
  return Object.assign(new Error(message), { code: 'EREFUSED' });
}

/** Fields of a credentials.json account that are text or none (null or absent). */
const TEXT_FIELDS = ['username', 'email', 'phone', 'role'] as const;

/**
 * The fields of credentials.json a hand edit mistyped (an address typed as a number, a hash as a
 * list), each as `accounts."id".field is a number, not text`. Read as they were, a login field crashed the start
 * ("key.normalize is not a function") and a role or hash made that user's every sign-in a 500,
 * saying nothing of which user to fix. Only the fields code reads as strings or objects are looked at.
 */
export function mistypedCredentials(credentials: {
  accounts: Record<string, unknown>;
  passwords: unknown[];
  sessions: Record<string, unknown>;
  refreshTokens: Record<string, unknown>;
}): string[] {
  const found: string[] = [];
  // The value's kind only, never the value: a mistyped field may hold a password hash or an address.
  const is = (where: string, value: unknown, what: string) =>
    found.push(`${where} is ${kindOf(value)}, not ${what}`);
  for (const [id, account] of Object.entries(credentials.accounts)) {
    const where = `accounts.${JSON.stringify(id)}`;
    if (!isPlainObject(account)) {
      is(where, account, 'an object');
      continue;
    }
    const fields = account as Record<string, unknown>;
    for (const field of TEXT_FIELDS) {
      const value = fields[field];
      if (value !== undefined && value !== null && typeof value !== 'string')
        is(`${where}.${field}`, value, 'text');
    }
    if (fields.appMetadata !== undefined && !isPlainObject(fields.appMetadata)) {
      is(`${where}.appMetadata`, fields.appMetadata, 'an object');
    }
  }
  credentials.passwords.forEach((entry, index) => {
    const where = `passwords[${index}]`;
    if (!isPlainObject(entry)) return is(where, entry, 'an object');
    const { sub, password } = entry as Record<string, unknown>;
    if (typeof sub !== 'string') is(`${where}.sub`, sub, 'text');
    if (password !== null && typeof password !== 'string') is(`${where}.password`, password, 'text');
  });
  // Sessions and their refresh tokens: a mistyped one started unnoticed, then its refresh, its
  // check or the session list answered 500 (a secret compared as text, a date that is none).
  entriesOf(credentials.sessions, 'sessions', SESSION_FIELDS, is);
  entriesOf(credentials.refreshTokens, 'refreshTokens', REFRESH_TOKEN_FIELDS, is);
  for (const [id, session] of Object.entries(credentials.sessions)) {
    if (!isPlainObject(session) || session.amr === undefined) continue;
    const where = `sessions.${JSON.stringify(id)}.amr`;
    if (!Array.isArray(session.amr)) {
      is(where, session.amr, 'a list');
      continue;
    }
    session.amr.forEach((claim, index) =>
      fieldsOf(claim, `${where}[${index}]`, { method: 'text', at: 'date' }, is),
    );
  }
  return found;
}

/** What a field of a credentials.json entry holds: text or a date (as storedDate keeps it), maybe null. */
type FieldKind = 'text' | 'date' | 'text or null' | 'date or null';

const SESSION_FIELDS: Record<string, FieldKind> = {
  userId: 'text',
  createdAt: 'date',
  refreshedAt: 'date',
  notAfter: 'date',
  revokedAt: 'date or null',
  revokedReason: 'text or null',
  refreshSecret: 'text',
};

const REFRESH_TOKEN_FIELDS: Record<string, FieldKind> = {
  sessionId: 'text',
  createdAt: 'date',
  rotatedAt: 'date or null',
};

type Report = (where: string, value: unknown, what: string) => void;

/** Each entry of a credentials.json map (`map`: its name) checked against `fields`. */
function entriesOf(
  entries: Record<string, unknown>,
  map: string,
  fields: Record<string, FieldKind>,
  is: Report,
): void {
  for (const [key, entry] of Object.entries(entries))
    fieldsOf(entry, `${map}.${JSON.stringify(key)}`, fields, is);
}

function fieldsOf(entry: unknown, where: string, fields: Record<string, FieldKind>, is: Report): void {
  if (!isPlainObject(entry)) return is(where, entry, 'an object');
  for (const [field, kind] of Object.entries(fields)) {
    const value = (entry as Record<string, unknown>)[field];
    if (kind.endsWith('or null') && value === null) continue;
    const date = kind.startsWith('date');
    if (date ? !isDate(value) : typeof value !== 'string')
      is(`${where}.${field}`, value, date ? `a ${kind}` : kind);
  }
}

/** A date as credentials.json's entries keep it in memory: epoch milliseconds, or text that parses as one. */
function isDate(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

/** What kind of JSON value `value` is, for a message that must not quote it. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'true or false';
  return value === undefined ? 'missing' : 'text';
}
