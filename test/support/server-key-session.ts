import { randomUUID } from 'node:crypto';
import { hashSecret, randomSecret } from '../../src/core/secrets.js';
import type { PostgresStore } from '../../src/stores/postgres/index.js';

const DAY_SECONDS = 86_400;

/** Session settings for refresh tests: a day's inactivity, 30 days' lifetime, 10 s of reuse grace. */
export const refreshSettings = {
  absoluteLifetime: 30 * DAY_SECONDS,
  inactivityTimeout: DAY_SECONDS,
  reuseGrace: 10,
  maxPerUser: 0,
  endedRetention: DAY_SECONDS,
};

/**
 * A new session of `userId`, as a sign-in opens one since migration 28 (its successors under the
 * server key), created `now` and lasting `lifetimeSeconds` (refreshSettings' by default): its id and its first refresh token.
 */
export async function openServerKeySession(
  store: PostgresStore,
  userId: string,
  now = new Date(),
  lifetimeSeconds = refreshSettings.absoluteLifetime,
): Promise<{ id: string; token: string }> {
  const token = randomSecret();
  const id = randomUUID();
  await store.createSession({
    id,
    userId,
    createdAt: now,
    notAfter: new Date(now.getTime() + lifetimeSeconds * 1000),
    refreshSecret: randomSecret(),
    firstRefreshTokenHash: hashSecret(token),
    maxPerUser: 0,
  });
  return { id, token };
}
