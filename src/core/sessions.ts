import { createHmac } from 'node:crypto';
import { assertNotBanned } from './banned.js';
import { AuthError } from './errors.js';
import { deriveSecret, hashSecret, randomId, randomSecret } from './secrets.js';
import type {
  FirstSession,
  FoundRefreshToken,
  Identity,
  NewSession,
  Session,
  Store,
  User,
} from './ports/store.js';
import type { KnownClientRecord } from './ports/rate-limits.js';

export interface SessionSettings {
  absoluteLifetime: number;
  inactivityTimeout: number;
  reuseGrace: number;
  maxPerUser: number;
  /** Seconds an ended session is kept before pruneEnded deletes it (the retention policy, for every store). */
  endedRetention: number;
}

/**
 * How far to follow a chain of rotations that all happened inside the grace
 * period (a tab refreshing twice while another still holds the first token).
 */
const MAX_GRACE_HOPS = 8;

/** A successful exchange: the session, its user (null if deleted meanwhile), and the new refresh token. */
export interface Rotated {
  session: Session;
  user: User | null;
  refreshToken: string;
  /** The user's identities, when the store read them with the token (FoundRefreshToken.identities). */
  identities?: Identity[];
}

/**
 * Refresh-token families. A session's refresh tokens form a chain: the first
 * is random, each successor is HMAC(key, predecessor), the key being the
 * server's successor key for a session whose store rotates in one statement
 * (Session.chain 'server-key': PostgreSQL's, docs/postgres-schema.md), else
 * the session's own refreshSecret. The
 * store keeps only hashes, yet a token presented again within the grace
 * period can be answered with the very successor it was exchanged for, so two
 * tabs refreshing at once both stay signed in. Outside the grace period, a
 * rotated token presented again is a replay: the whole session is revoked.
 */
export class SessionManager {
  /**
   * @param keys server keys (derived from a configured secret, never stored in the database):
   *   `imported`, under which an imported token is hashed before its first successor is derived from
   *   it (importedSuccessor); `successors`, which derives every successor of a 'server-key' session.
   */
  constructor(
    private readonly store: Store,
    private readonly settings: SessionSettings,
    private readonly keys: { imported: Buffer; successors: Buffer },
  ) {}

  /** A session not stored yet, for a user not created yet: written with it (Store.createUser). */
  draft(now: Date, authMethod: string): { session: FirstSession; refreshToken: string } {
    const refreshToken = randomSecret();
    return {
      session: {
        id: randomId(),
        createdAt: now,
        notAfter: new Date(now.getTime() + this.settings.absoluteLifetime * 1000),
        refreshSecret: randomSecret(),
        firstRefreshTokenHash: hashSecret(refreshToken),
        authMethod,
      },
      refreshToken,
    };
  }

  /** The session a draft became once written with its user. */
  opened(draft: FirstSession, userId: string): Session {
    const { firstRefreshTokenHash: _first, authMethod, ...rest } = draft;
    return {
      ...rest,
      userId,
      refreshedAt: draft.createdAt,
      revokedAt: null,
      revokedReason: null,
      amr: authMethod === undefined ? [] : [{ method: authMethod, at: draft.createdAt }],
    };
  }

  /**
   * Opens a session authenticated by `authMethod` (GoTrue's amr method, kept with the session), with
   * `knownClient` written by a store that records it (Store.createSession).
   */
  async start(
    userId: string,
    now: Date,
    authMethod: string,
    knownClient: KnownClientRecord | null = null,
  ): Promise<{ session: Session; refreshToken: string }> {
    const { session, refreshToken } = this.prepare(userId, now, authMethod);
    return { session: await this.store.createSession(session, knownClient), refreshToken };
  }

  /**
   * The session start stores, with its first refresh token, not stored yet: for a store that writes
   * it with the use case's other writes (Store.openSignIn).
   */
  prepare(userId: string, now: Date, authMethod: string): { session: NewSession; refreshToken: string } {
    const refreshToken = randomSecret();
    return {
      session: {
        id: randomId(),
        userId,
        createdAt: now,
        notAfter: new Date(now.getTime() + this.settings.absoluteLifetime * 1000),
        refreshSecret: randomSecret(),
        firstRefreshTokenHash: hashSecret(refreshToken),
        maxPerUser: this.settings.maxPerUser,
        authMethod,
      },
      refreshToken,
    };
  }

  /** The user's live sessions, newest first: not revoked, within their lifetime and inactivity timeout. */
  async listLive(userId: string, now: Date): Promise<Session[]> {
    const sessions = await this.store.listSessions(userId);
    return sessions.filter(
      (session) =>
        session.notAfter.getTime() > now.getTime() &&
        session.refreshedAt.getTime() + this.settings.inactivityTimeout * 1000 > now.getTime(),
    );
  }

  /**
   * Deletes the sessions that ended longer than the retention ago, with their
   * refresh tokens: the one retention policy, which each store applies by date.
   */
  pruneEnded(now: Date): Promise<{ sessions: number; refreshTokens: number }> {
    return this.store.pruneSessions(new Date(now.getTime() - this.settings.endedRetention * 1000));
  }

  /** Throws unless the session is neither revoked nor past its absolute lifetime. */
  assertLive(session: Pick<Session, 'revokedAt' | 'notAfter'>, now: Date): void {
    if (session.revokedAt !== null) throw new AuthError('session_not_found');
    if (session.notAfter.getTime() <= now.getTime()) throw new AuthError('session_expired');
  }

  /**
   * Records activity on a session without rotating its refresh token (postgrest-auth's bearer
   * re-issue), under rotate's inactivity rule: a session idle past the timeout ends, as it would at
   * a refresh, instead of being revived.
   */
  async recordActivity(sessionId: string, now: Date): Promise<void> {
    const inactiveBefore = new Date(now.getTime() - this.settings.inactivityTimeout * 1000);
    if (await this.store.recordSessionActivity(sessionId, now, inactiveBefore)) return;
    await this.store.revokeSession(sessionId, 'inactivity_timeout', now);
    throw new AuthError('session_expired');
  }

  async findByRefreshToken(refreshToken: string): Promise<Session> {
    const found = await this.store.findRefreshToken(hashSecret(refreshToken));
    if (!found || found.session.revokedAt !== null) throw new AuthError('refresh_token_not_found');
    return found.session;
  }

  /** Exchanges a refresh token for its successor, detecting replays. */
  async rotate(refreshToken: string, now: Date): Promise<Rotated> {
    const hash = hashSecret(refreshToken);
    // Only hashes go to the store: a database's statement log never holds a token (nor, with what
    // the store keeps, anything a successor could be derived from; docs/postgres-schema.md).
    let found;
    if (this.store.refreshInOneStatement) {
      // The successor under the server key, known before any query: a 'server-key' session's usual
      // refresh is found, judged and rotated by one statement. Anything else is judged below.
      const successor = this.serverKeySuccessor(refreshToken);
      const inactiveBefore = new Date(now.getTime() - this.settings.inactivityTimeout * 1000);
      const once = await this.store.refreshInOneStatement(hash, hashSecret(successor), now, inactiveBefore);
      if (once?.rotated) {
        const { session, user, identities } = once.found;
        return { session, user, refreshToken: successor, identities };
      }
      found = once ? once.found : await this.store.findRefreshToken(hash);
    } else {
      found = await this.store.findRefreshToken(hash);
    }
    if (!found) return this.redeemImported(refreshToken, now);
    const { session, user } = found;
    assertSignsIn(user, now);
    assertNoVerifiedFactor(found);
    this.assertLive(session, now);
    if (found.token.rotatedAt === null) {
      if (this.idle(session, now)) {
        await this.store.revokeSession(session.id, 'inactivity_timeout', now);
        throw new AuthError('session_expired');
      }
      const successor = this.successor(session, refreshToken);
      if (await this.store.rotateRefreshToken(found.token.hash, hashSecret(successor), now)) {
        return { session, user, refreshToken: successor };
      }
      // Another request rotated it between our read and our write: judge it as a repeat.
    }
    return this.answerRepeat(refreshToken, session, now);
  }

  /** Whether `session` was last refreshed longer than the inactivity timeout before `now`. */
  private idle(session: Pick<Session, 'refreshedAt'>, now: Date): boolean {
    return session.refreshedAt.getTime() + this.settings.inactivityTimeout * 1000 <= now.getTime();
  }

  /**
   * A token of a database another server made (Store.findImportedRefreshToken) works once: its
   * session moves into restauth's form, with a new secret and, as successor, the token derived from
   * the presented one, as any successor is. Presented again, it is a rotated token: inside the grace
   * period the walk from that successor answers a racing tab, after it the session ends.
   */
  private async redeemImported(refreshToken: string, now: Date): Promise<Rotated> {
    const imported = (await this.store.findImportedRefreshToken?.(refreshToken)) ?? null;
    if (!imported) throw new AuthError('refresh_token_not_found');
    const { session, user } = imported;
    assertSignsIn(user, now);
    assertNoVerifiedFactor(imported);
    this.assertLive(session, now);
    if (imported.spentAt === null) {
      if (this.idle(session, now)) {
        await this.store.revokeSession(session.id, 'inactivity_timeout', now);
        throw new AuthError('session_expired');
      }
      const refreshSecret = randomSecret();
      const successor = this.importedSuccessor(refreshSecret, refreshToken);
      if (
        await this.store.redeemImportedRefreshToken!(refreshToken, refreshSecret, hashSecret(successor), now)
      ) {
        return { session: { ...session, refreshedAt: now, refreshSecret }, user, refreshToken: successor };
      }
      // Another request spent it between our read and our write: judge it as a repeat.
    }
    const spentAt = imported.spentAt ?? now;
    const converted = await this.store.findSession(session.id);
    // Spent by a redemption whose answer never came, on this instance or another (Store.unansweredRotation):
    // its retry is answered as within the grace, however late it comes, while the session is not idle.
    const unanswered =
      imported.spentAt !== null &&
      (await this.store.unansweredRotation?.(hashSecret(refreshToken), spentAt, now)) === true &&
      converted !== null &&
      !this.idle(converted, now);
    if (
      converted &&
      converted.refreshSecret !== '' &&
      (unanswered || withinGrace(spentAt, now, this.settings.reuseGrace))
    ) {
      return this.answerRepeat(this.importedSuccessor(converted.refreshSecret, refreshToken), converted, now);
    }
    await this.store.revokeSession(session.id, 'refresh_token_reused', now);
    throw new AuthError('refresh_token_reused');
  }

  /**
   * The first successor of an imported token. Not deriveSecret(secret, token) as every later one:
   * another server's token is known to whoever reads its database (GoTrue keeps v1 tokens raw, and
   * v2 keys unencrypted) or its statement log (the lookup sends it: GoTrue's v1 column holds it raw),
   * and the secret is in the database too, so the chain would be theirs. Under a server key first,
   * the successor takes a secret the database never holds.
   */
  private importedSuccessor(refreshSecret: string, token: string): string {
    return deriveSecret(
      refreshSecret,
      createHmac('sha256', this.keys.imported).update(token).digest('base64url'),
    );
  }

  /** The successor of `token` in `session`'s chain (Session.chain). */
  private successor(session: Pick<Session, 'chain' | 'refreshSecret'>, token: string): string {
    return session.chain === 'server-key'
      ? this.serverKeySuccessor(token)
      : deriveSecret(session.refreshSecret, token);
  }

  /**
   * HMAC(server key, token): the store holds neither the key nor the token, so a reader of the
   * database and its statement log (which holds hashes only) cannot compute a successor.
   */
  private serverKeySuccessor(token: string): string {
    return createHmac('sha256', this.keys.successors).update(token).digest('base64url');
  }

  /**
   * A rotated token came back. Inside the grace period, walk the chain of
   * successors to the live one and return it; otherwise revoke the session.
   */
  private async answerRepeat(refreshToken: string, session: Session, now: Date): Promise<Rotated> {
    let token = refreshToken;
    let record = await this.store.findRefreshToken(hashSecret(token));
    // The presented token's session ended since it was read (a logout, a password change), or went
    // with its user: that refused the rotation, and it is answered as a refresh after it is, not
    // counted as a reuse.
    if (!record) throw new AuthError('refresh_token_not_found');
    if (record.session.revokedAt !== null) throw new AuthError('session_not_found');
    for (let hop = 1; ; hop++) {
      if (!record || record.session.revokedAt !== null) break;
      // The store refused to rotate it for its user's factor: never hand the live token back.
      assertNoVerifiedFactor(record);
      if (record.token.rotatedAt === null)
        return { session: record.session, user: record.user, refreshToken: token };
      // The presented token's rotation was one whose answer was lost, on this instance or another
      // (Store.unansweredRotation): its client never saw the successor, so its retry is no replay,
      // however late, while the session is not idle (the rotation was its last activity). Asked
      // first, so that the store's record is spent either way: it answers once.
      const unanswered =
        hop === 1 &&
        (await this.store.unansweredRotation?.(hashSecret(token), record.token.rotatedAt, now)) === true &&
        !this.idle(record.session, now);
      if (!unanswered && !withinGrace(record.token.rotatedAt, now, this.settings.reuseGrace)) break;
      if (hop === MAX_GRACE_HOPS) break;
      const next = await this.storedSuccessor(session, token);
      // A 'server-key' session's rotated token always has a successor stored, unless the server key
      // changed since (another JWT secret or signing key, `keys rotate`): that repeat is refused,
      // and the session, whose live token the other tab holds, goes on.
      if (!next && session.chain === 'server-key') throw new AuthError('refresh_token_not_found');
      if (!next) break;
      ({ token, record } = next);
    }
    await this.store.revokeSession(session.id, 'refresh_token_reused', now);
    throw new AuthError('refresh_token_reused');
  }

  /**
   * The successor `token` was exchanged for, as stored, or null. A 'server-key' session's token
   * rotated by an instance from before migration 28 (a rolling upgrade: it knows only secret chains,
   * and rotates every session under its refreshSecret, which a 'server-key' session keeps for it)
   * has its secret's successor instead, so that one is looked for too, and the chain goes on from
   * whichever is stored (docs/operations.md, Upgrades).
   */
  private async storedSuccessor(
    session: Pick<Session, 'chain' | 'refreshSecret'>,
    token: string,
  ): Promise<{ token: string; record: FoundRefreshToken } | null> {
    const successors = [this.successor(session, token)];
    if (session.chain === 'server-key' && session.refreshSecret !== '')
      successors.push(deriveSecret(session.refreshSecret, token));
    for (const successor of successors) {
      const record = await this.store.findRefreshToken(hashSecret(successor));
      if (record) return { token: successor, record };
    }
    return null;
  }
}

/**
 * Refuses a refresh no user signs in: none (gone, soft-deleted, of another GoTrue instance), or one
 * banned at `now` (user_banned, as GoTrue's refresh grant asks the ban before it rotates). Asked before
 * anything is rotated, redeemed or ended, so a refused refresh changes nothing: the client keeps its
 * token for when the ban ends.
 */
function assertSignsIn(user: User | null, now: Date): asserts user is User {
  if (!user) throw new AuthError('session_not_found');
  assertNotBanned(user, now);
}

/**
 * A user with a verified MFA factor gets no refreshed session (FoundRefreshToken.userHasVerifiedFactor):
 * checked before the token is judged, so the refusal says why and no session is revoked for it.
 */
function assertNoVerifiedFactor(found: { userHasVerifiedFactor?: boolean }): void {
  if (found.userHasVerifiedFactor === true) throw new AuthError('insufficient_aal');
}

/**
 * Whether a rotation at `rotatedAt` is within the reuse grace of `now`, on either side: a rotation
 * dated ahead of now was made by a clock since set back (an NTP step, or another instance on the
 * database whose clock is ahead), and counting all of that as grace would hand a stolen, rotated
 * token the live one for as long as the clocks disagree.
 */
function withinGrace(rotatedAt: Date, now: Date, graceSeconds: number): boolean {
  return Math.abs(now.getTime() - rotatedAt.getTime()) <= graceSeconds * 1000;
}
