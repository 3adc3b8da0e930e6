import { AuthError } from '../../core/errors.js';
import { checkEmail } from '../../core/identity.js';
import { isBcryptHash } from '../../lib/bcrypt-hash.js';
import type { FileDatabase, FileDatabaseLogger } from './file-database.js';
import { normalizeCredentials } from './records.js';

/**
 * Takes over a json-server-auth db.json: its users hold their bcrypt hash in
 * `password` and their address in `email`, in db.json itself. At start each
 * such hash moves to credentials.json (the user's password entry, and an
 * account signing in by that address), and leaves db.json, in one commit of
 * the file database: credentials.json is written first, then db.json, each
 * atomically. A crash between the two leaves the hash in both files, and the
 * next start finishes the move (the same hash is already there); so no
 * password is lost, and a hash is never only in memory. The users then sign
 * in with their passwords unchanged (bcrypt verifies whatever the configured
 * algorithm). Logged once, naming how many, never a hash.
 */
export async function takeOverJsonServerAuthUsers(
  db: FileDatabase,
  settings: { usersProp: string; userIdProp: string; dataFile: string; credentialsFile: string },
  logger?: FileDatabaseLogger,
): Promise<void> {
  if (hashedUsers(db.data, settings).length === 0) return;
  const outcome = await db.transact(
    (docs) => {
      const credentials = normalizeCredentials(docs.credentials);
      const now = Date.now();
      const moved: string[] = [];
      const kept: string[] = [];
      for (const record of hashedUsers(docs.data, settings)) {
        const id = String(record[settings.userIdProp]);
        const hash = record['password'] as string;
        const entry = credentials.passwords.find((candidate) => candidate.sub === id);
        if (entry === undefined) credentials.passwords.push({ sub: id, password: hash });
        // A different hash already in credentials.json is restauth's newer one (a password changed since).
        else if (entry.password !== hash) kept.push(id);
        // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
        credentials.accounts[id] ??= {
          username: null,
          email: addressOf(record['email']),
          emailConfirmedAt: null,
          role: null,
          tokenVersion: 0,
          appMetadata: {},
          createdAt: now,
          updatedAt: now,
          lastSignInAt: null,
        };
        delete record['password'];
        moved.push(id);
      }
      return { moved, kept };
    },
    // Both files change, however large: in pieces (a reload under --watch runs this while serving).
    { inPieces: true },
  );
  logger?.info(
    `restauth: ${settings.dataFile} held the bcrypt password hashes of ${outcome.moved.length} ` +
      `json-server-auth user(s): moved to ${settings.credentialsFile} (they sign in with the same passwords)`,
  );
  if (outcome.kept.length > 0) {
    logger?.warn(
      `restauth: ${outcome.kept.length} of them already had another password in ${settings.credentialsFile}, ` +
        `which they keep: ${outcome.kept.map((id) => JSON.stringify(id)).join(', ')}`,
    );
  }
}

/**
 * The user records of db.json holding a bcrypt hash in `password`, as json-server-auth stored them. A
 * record without an id is left alone: no account can be keyed by it (the data API does not serve it either).
 */
function hashedUsers(
  data: Record<string, unknown>,
  { usersProp, userIdProp }: { usersProp: string; userIdProp: string },
): Array<Record<string, unknown>> {
  const users = Object.hasOwn(data, usersProp) ? data[usersProp] : undefined;
  if (!Array.isArray(users)) return [];
  return (users as unknown[]).filter((record): record is Record<string, unknown> => {
    if (typeof record !== 'object' || record === null) return false;
    const { [userIdProp]: id, password } = record as Record<string, unknown>;
    return (typeof id === 'string' || typeof id === 'number') && isBcryptHash(password);
  });
}

/** The account's address: json-server-auth's `email` in restauth's login form, or none when it is not one. */
function addressOf(email: unknown): string | null {
  if (typeof email !== 'string') return null;
  try {
    return checkEmail(email);
  } catch (error) {
    if (error instanceof AuthError) return null;
    throw error;
  }
}
