import { hashSecret } from '../../src/core/secrets.js';
import type { NewSession } from '../../src/core/ports/store.js';

/** The file store's credentials at a number of users (seed), and sessions to add to them (newSession). */

/** A day in milliseconds: a session's default lifetime is 30 of them. */
export const DAY = 86_400_000;

/** db.json with `count` users and credentials.json with a password, an account and a session each. */
export function seed(count: number): { data: string; credentials: string } {
  const users = Array.from({ length: count }, (_, i) => ({ id: `user${i}` }));
  const at = new Date(0).toISOString();
  const accounts: Record<string, unknown> = {};
  const sessions: Record<string, unknown> = {};
  const refreshTokens: Record<string, unknown> = {};
  for (const { id } of users) {
    accounts[id] = {
      username: id,
      email: null,
      emailConfirmedAt: null,
      role: null,
      tokenVersion: 0,
      appMetadata: {},
      createdAt: at,
      updatedAt: at,
      lastSignInAt: null,
    };
    sessions[`s-${id}`] = {
      userId: id,
      createdAt: at,
      refreshedAt: at,
      notAfter: new Date(4e12).toISOString(),
      revokedAt: null,
      revokedReason: null,
      refreshSecret: 'secret',
    };
    refreshTokens[`t-${id}`] = { sessionId: `s-${id}`, createdAt: at, rotatedAt: null };
  }
  return {
    data: JSON.stringify({ users }),
    credentials: JSON.stringify(
      {
        passwords: users.map(({ id }) => ({ sub: id, password: 'hash' })),
        accounts,
        sessions,
        refreshTokens,
      },
      null,
      2,
    ),
  };
}

export function newSession(userId: string, id: string, createdAt: Date, lifetimeMs = 30 * DAY): NewSession {
  return {
    id,
    userId,
    createdAt,
    notAfter: new Date(createdAt.getTime() + lifetimeMs),
    refreshSecret: `secret-${id}`,
    firstRefreshTokenHash: hashSecret(`first-${id}`),
    maxPerUser: 100,
  };
}
