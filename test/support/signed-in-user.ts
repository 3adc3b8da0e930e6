import { randomUUID } from 'node:crypto';
import type { PostgresStore } from '../../src/stores/postgres/index.js';

const DAY = 86_400_000;

/**
 * A user the store made (no password, no address, the store's audience) and a live session of it,
 * a day long: what the pre-request's tests check tokens of.
 */
export async function signedInUser(store: PostgresStore, username: string) {
  const user = await store.createUser(
    { username, email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
    null,
  );
  const session = await store.createSession({
    id: randomUUID(),
    userId: user.id,
    createdAt: new Date(),
    notAfter: new Date(Date.now() + DAY),
    refreshSecret: 'secret',
    firstRefreshTokenHash: randomUUID(),
    maxPerUser: 0,
  });
  return { user, session };
}
