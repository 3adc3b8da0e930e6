import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashSecret } from '../../src/core/secrets.js';

/** A file-store folder with one user, `userId`, who has an account and a password hash: db.json and credentials.json. */
export async function writeOneUserFolder(dir: string, userId: string): Promise<void> {
  const at = new Date(0).toISOString();
  await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: userId }] }));
  const account = {
    username: userId,
    email: null,
    emailConfirmedAt: at,
    role: null,
    tokenVersion: 0,
    appMetadata: {},
    createdAt: at,
    updatedAt: at,
    lastSignInAt: null,
  };
  await writeFile(
    join(dir, 'credentials.json'),
    JSON.stringify({ passwords: [{ sub: userId, password: 'hash' }], accounts: { [userId]: account } }),
    { mode: 0o600 },
  );
}

/**
 * The writes of `userId`'s `n`th password sign-in (Store.openSignIn's input), one second after the
 * last, without an audit event (the audit log's own timer would write it later, outside the commit),
 * proven by the hash writeOneUserFolder stores.
 */
export function signInWrites(userId: string, n: number, maxPerUser = 0) {
  const now = new Date(Date.UTC(2026, 0, 1) + n * 1000);
  return {
    lastSignInAt: now,
    session: {
      id: `session${n}`,
      userId,
      createdAt: now,
      notAfter: new Date(now.getTime() + 3_600_000),
      refreshSecret: `secret${n}`,
      firstRefreshTokenHash: hashSecret(`token${n}`),
      maxPerUser,
    },
    audit: null,
    provenHash: 'hash',
  };
}
