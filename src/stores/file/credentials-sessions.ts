import type { NewSession } from '../../core/ports/store.js';
import { epochMs } from './credentials-dates.js';
import type { CredentialChanges } from './credentials-journal.js';
import type { CredentialsDocument, StoredDate } from './records.js';

/**
 * Which sessions each user has and which refresh tokens each session has,
 * so a sign-in, a logout or a removal touches a user's few entries instead
 * of scanning every session of every user. Built from credentials.json at
 * first use, kept up to date by the writes below, and dropped when the
 * documents are reloaded from disk.
 */
export class SessionIndex {
  private byUser: Map<string, Set<string>> | null = null;
  private bySession: Map<string, Set<string>> | null = null;

  constructor(private readonly credentials: () => CredentialsDocument) {}

  /** Memory was replaced (a failed commit): rebuilt at next use. */
  reset(): void {
    this.byUser = null;
    this.bySession = null;
  }

  sessionsOf(userId: string): string[] {
    return [...(this.build().byUser.get(userId) ?? [])];
  }

  tokensOf(sessionId: string): string[] {
    return [...(this.build().bySession.get(sessionId) ?? [])];
  }

  addSession(userId: string, sessionId: string): void {
    if (this.byUser) add(this.byUser, userId, sessionId);
  }

  removeSession(userId: string, sessionId: string): void {
    this.byUser?.get(userId)?.delete(sessionId);
    if (this.byUser?.get(userId)?.size === 0) this.byUser.delete(userId);
    this.bySession?.delete(sessionId);
  }

  addToken(sessionId: string, hash: string): void {
    if (this.bySession) add(this.bySession, sessionId, hash);
  }

  removeToken(sessionId: string, hash: string): void {
    this.bySession?.get(sessionId)?.delete(hash);
  }

  private build(): { byUser: Map<string, Set<string>>; bySession: Map<string, Set<string>> } {
    if (this.byUser && this.bySession) return { byUser: this.byUser, bySession: this.bySession };
    const credentials = this.credentials();
    const byUser = new Map<string, Set<string>>();
    const bySession = new Map<string, Set<string>>();
    for (const [id, session] of Object.entries(credentials.sessions)) add(byUser, session.userId, id);
    for (const [hash, token] of Object.entries(credentials.refreshTokens))
      add(bySession, token.sessionId, hash);
    this.byUser = byUser;
    this.bySession = bySession;
    return { byUser, bySession };
  }
}

function add(index: Map<string, Set<string>>, key: string, value: string): void {
  let values = index.get(key);
  if (!values) index.set(key, (values = new Set()));
  values.add(value);
}

/**
 * credentials.json inside one transaction: the document, where its changes
 * are reported (journaled, or dropped when the commit rewrites the whole
 * file) and the session index they keep up to date.
 */
export interface CredentialsWrite {
  credentials: CredentialsDocument;
  changes: CredentialChanges;
  sessions: SessionIndex;
}

/** A new session and its first refresh token. */
export function writeNewSession(
  write: CredentialsWrite,
  userId: string,
  session: Pick<
    NewSession,
    'id' | 'createdAt' | 'notAfter' | 'refreshSecret' | 'firstRefreshTokenHash' | 'authMethod'
  >,
): void {
  const { credentials, changes, sessions } = write;
  const created = session.createdAt.getTime();
  // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
  credentials.sessions[session.id] = {
    userId,
    createdAt: created,
    refreshedAt: created,
    notAfter: session.notAfter.getTime(),
    revokedAt: null,
    revokedReason: null,
    refreshSecret: session.refreshSecret,
    ...(session.authMethod === undefined ? {} : { amr: [{ method: session.authMethod, at: created }] }),
  };
  changes.wrote('sessions', session.id);
  sessions.addSession(userId, session.id);
  putRefreshToken(write, session.firstRefreshTokenHash, {
    sessionId: session.id,
    createdAt: created,
    rotatedAt: null,
  });
}

export function putRefreshToken(
  write: CredentialsWrite,
  hash: string,
  entry: CredentialsDocument['refreshTokens'][string],
): void {
  // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
  write.credentials.refreshTokens[hash] = entry;
  write.changes.wrote('refreshTokens', hash);
  write.sessions.addToken(entry.sessionId, hash);
}

export function removeRefreshToken(write: CredentialsWrite, hash: string): void {
  const entry = write.credentials.refreshTokens[hash];
  if (!entry) return;
  delete write.credentials.refreshTokens[hash];
  write.changes.wrote('refreshTokens', hash);
  write.sessions.removeToken(entry.sessionId, hash);
}

/** Ends a session; returns whether it was live. */
export function revokeSession(
  write: CredentialsWrite,
  sessionId: string,
  reason: string,
  now: Date,
): boolean {
  const session = write.credentials.sessions[sessionId];
  if (!session || session.revokedAt !== null) return false;
  session.revokedAt = now.getTime();
  session.revokedReason = reason;
  write.changes.wrote('sessions', sessionId);
  return true;
}

/** Ends a user's live sessions but `exceptSessionId`; returns how many. */
export function revokeUserSessions(
  write: CredentialsWrite,
  userId: string,
  exceptSessionId: string | null,
  reason: string,
  now: Date,
): number {
  let count = 0;
  for (const id of write.sessions.sessionsOf(userId)) {
    if (id !== exceptSessionId && revokeSession(write, id, reason, now)) count++;
  }
  return count;
}

/** Removes sessions and their refresh tokens. */
export function removeSessions(write: CredentialsWrite, ids: Iterable<string>): number {
  let count = 0;
  for (const id of ids) {
    const session = write.credentials.sessions[id];
    if (!session) continue;
    for (const hash of write.sessions.tokensOf(id)) removeRefreshToken(write, hash);
    delete write.credentials.sessions[id];
    write.changes.wrote('sessions', id);
    write.sessions.removeSession(session.userId, id);
    count++;
  }
  return count;
}

/**
 * Removes the sessions that ended (revoked, or past their absolute lifetime)
 * before `endedBefore`, with their refresh tokens. The retention itself is
 * core's policy (core/session-retention.ts): the store only compares dates.
 */
export function pruneEndedSessions(
  write: CredentialsWrite,
  endedBefore: Date,
): { sessions: number; refreshTokens: number } {
  const cutoff = endedBefore.getTime();
  const ended: string[] = [];
  for (const [id, session] of Object.entries(write.credentials.sessions)) {
    const revoked = session.revokedAt !== null && epochMs(session.revokedAt) < cutoff;
    if (revoked || epochMs(session.notAfter) < cutoff) ended.push(id);
  }
  const refreshTokens = ended.reduce((sum, id) => sum + write.sessions.tokensOf(id).length, 0);
  return { sessions: removeSessions(write, ended), refreshTokens };
}

/**
 * A session refreshed every minute would otherwise add 1,440 rotated tokens a
 * day to credentials.json. The newest rotated tokens are kept (a replay of
 * one of them revokes the session); older ones are forgotten, and a replay
 * of those is refused as an unknown token.
 */
export const KEPT_ROTATIONS = 20;

export function forgetOldRotations(write: CredentialsWrite, newestRotated: string): void {
  const tokens = write.credentials.refreshTokens;
  let keptHash = newestRotated;
  let kept = tokens[keptHash];
  for (let count = 1; count < KEPT_ROTATIONS; count++) {
    if (!kept?.parent) return;
    keptHash = kept.parent;
    kept = tokens[keptHash];
  }
  // `kept` is the oldest rotated token still remembered: its parent just fell out of the window.
  const forgotten = kept?.parent;
  if (!kept || forgotten === undefined) return;
  delete kept.parent;
  write.changes.wrote('refreshTokens', keptHash);
  removeRefreshToken(write, forgotten);
}

/**
 * Keeps the user's `keep` newest live sessions, `opened` (the one just
 * opened) always among them; older live ones go, with their refresh tokens.
 */
export function dropOldestSessions(
  write: CredentialsWrite,
  userId: string,
  keep: number,
  opened: string,
): void {
  const sessions = write.credentials.sessions;
  const others = write.sessions
    .sessionsOf(userId)
    .filter((id) => id !== opened && sessions[id]?.revokedAt === null);
  const excess = others.length - (keep - 1);
  if (excess <= 0) return;
  // A sign-in at the cap ends one session, found in one pass: a storm of one user's sign-ins sorted
  // up to maxPerUser ids each time (8 % of the event loop's time per login in bench login), to drop the last.
  if (excess === 1) {
    removeSessions(write, [oldestOf(others, sessions)]);
    return;
  }
  // Newest first.
  others.sort((a, b) => epochMs(sessions[b]!.createdAt) - epochMs(sessions[a]!.createdAt));
  removeSessions(write, others.slice(keep - 1));
}

/** The session created first, the last listed of those created at the same time (as the sort above ends). */
function oldestOf(ids: string[], sessions: Record<string, { createdAt: StoredDate }>): string {
  let oldest = ids[0]!;
  for (const id of ids)
    if (epochMs(sessions[id]!.createdAt) <= epochMs(sessions[oldest]!.createdAt)) oldest = id;
  return oldest;
}
