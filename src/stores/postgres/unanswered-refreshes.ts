import type { OneStatementRefresh } from '../../core/ports/store.js';
import type { RefreshEntry } from './refresh-batch.js';

/** The most refreshes remembered at once; past it the oldest is forgotten (a retry then meets the reuse grace). */
const MOST_REMEMBERED = 10_000;

/**
 * Refreshes whose statement failed without an answer that says what it did: above all a connection
 * that died after COMMIT was sent and before its answer came (a terminated backend, a restart, a
 * network fault). The server may have committed the rotation, and its client, answered 503, never saw
 * the successor. Retrying after the outage it presents the token again, now rotated, and past the
 * reuse grace (a client backing off for longer than 10 s) that was judged a stolen token's reuse and
 * the session revoked: a user signed out by a database fault.
 *
 * So each such refresh is remembered by its presented token's hash, with the time it rotated at. When
 * that token is presented again, and the store finds it rotated at exactly that time into exactly the
 * successor this server derived for it, which is still live, that rotation is this server's own,
 * never answered: nobody has seen the successor, and it is handed to the retry, once. A second
 * presentation of the token is then judged as before (a repeat within the grace, else a reuse).
 * Only this process remembers: a retry to another instance, or after a restart, meets the grace.
 */
export class UnansweredRefreshes {
  private readonly remembered = new Map<string, Date>();

  holds(presentedHash: string): boolean {
    return this.remembered.has(presentedHash);
  }

  remember(entry: Pick<RefreshEntry, 'presentedHash' | 'now'>): void {
    this.remembered.delete(entry.presentedHash);
    this.remembered.set(entry.presentedHash, entry.now);
    if (this.remembered.size > MOST_REMEMBERED) {
      const oldest = this.remembered.keys().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
  }

  /**
   * Whether `presentedHash`'s remembered refresh is the rotation found at `rotatedAt`: for rotations
   * that core derives the successor of (Store.unansweredRotation), which it then walks to as within
   * the grace. Forgotten either way: a second presentation is judged as before.
   */
  claim(presentedHash: string, rotatedAt: Date): boolean {
    const remembered = this.remembered.get(presentedHash);
    this.remembered.delete(presentedHash);
    return remembered?.getTime() === rotatedAt.getTime();
  }

  /**
   * The answer to `entry` from its own unanswered rotation, or null (none remembered, or the
   * rotation did not happen as remembered: the entry is then refreshed as any other). `lookUp` reads
   * a token by its hash; a failure of it keeps the memory, for the retry after this one.
   */
  async answer(
    entry: RefreshEntry,
    lookUp: (hash: string) => Promise<OneStatementRefresh['found'] | null>,
  ): Promise<OneStatementRefresh | null> {
    const rotatedAt = this.remembered.get(entry.presentedHash);
    if (rotatedAt === undefined) return null;
    const [presented, successor] = [await lookUp(entry.presentedHash), await lookUp(entry.successorHash)];
    this.remembered.delete(entry.presentedHash);
    const own =
      presented?.token.rotatedAt?.getTime() === rotatedAt.getTime() &&
      successor !== null &&
      successor.session.id === presented.session.id &&
      successor.token.rotatedAt === null &&
      successor.session.revokedAt === null &&
      successor.userHasVerifiedFactor !== true &&
      successor.session.notAfter.getTime() > entry.now.getTime() &&
      successor.session.refreshedAt.getTime() > entry.inactiveBefore.getTime();
    return own ? { found: successor, rotated: true } : null;
  }
}
