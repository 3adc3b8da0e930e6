import type pg from 'pg';
import { arrayLiteral } from './array-literal.js';
import type { SessionTables } from './session-sql.js';

/** A rotation written by this process whose statement failed without an answer that says what it did. */
export interface UnansweredRotation {
  /** The presented token's hash (restauth never stores a token, nor sends one to the log). */
  presentedHash: string;
  /** Its successor's hash, as the write inserted it: the rotation's identity, with `now`. */
  successorHash: string;
  /** When the write rotated it (the successor's created_at, the presented token's rotation time). */
  now: Date;
}

/**
 * How long a record allows the retry past the grace: a client retries within minutes of an outage's
 * end, a phone off the network overnight within hours. The successor must still be unused and its
 * session live (core judges), so a later presentation of the token is judged as any other.
 */
export const UNANSWERED_KEPT_SECONDS = 86_400;
/** The most rotations this process holds while it cannot write them; past it the oldest is forgotten. */
const MOST_PENDING = 10_000;
/** The writer's first wait after a failed write, doubled after each failure up to the last. */
const FIRST_RETRY_MS = 100;
const LAST_RETRY_MS = 5_000;

/**
 * Refreshes whose write failed without an answer that says what it did: above all a connection that
 * died after COMMIT was sent and before its answer came (a terminated backend, a restart, a network
 * fault). The server may have committed the rotation, and its client, answered 503, never saw the
 * successor. Retrying after the outage it presents the token again, now rotated, and past the reuse
 * grace (a client backing off for longer than 10 s) that was judged a stolen token's reuse and the
 * session revoked: a user signed out by a database fault.
 *
 * Such a rotation is recorded in the database (`restauth.unanswered_refreshes`, migration 65), not in
 * this process alone: behind a load balancer the retry reaches any instance sharing the database, or
 * this one restarted. The record is written once the database answers again, and only if the rotation
 * committed (its successor is stored, created at the rotation's time): until then this process holds
 * it (`pending`) and retries the write with a growing wait. Any instance then claims it
 * (Store.unansweredRotation) when the token comes back rotated at exactly that time, and core answers
 * the successor derived from it if it is still unused and its session live. A claim marks the record
 * answered in the statement that finds it, so it answers once however many instances ask; the row is
 * kept (not deleted) until it expires, so that a write of it repeated after an unanswered first one
 * finds it and adds nothing.
 *
 * Nothing of this is on a refresh's usual path: the write follows a failure only, and the claim is
 * asked only of a token found already rotated (a repeat or a reuse).
 */
export class UnansweredRefreshes {
  /** Rotations not written yet, by presented hash and time (a retry that failed too is one more). */
  private readonly pending = new Map<string, UnansweredRotation>();
  private timer: NodeJS.Timeout | null = null;
  private retryMs = FIRST_RETRY_MS;

  constructor(
    private readonly pool: pg.Pool,
    /** restauth.unanswered_refreshes, quoted. */
    private readonly table: string,
    /** GoTrue's refresh tokens, where a committed rotation left its successor. */
    private readonly refreshTokens: string,
  ) {}

  /** `rotation`'s write failed unanswered: recorded as soon as the database answers, if it committed. */
  remember(rotation: UnansweredRotation): void {
    const key = `${rotation.presentedHash} ${rotation.now.getTime()}`;
    this.pending.delete(key);
    this.pending.set(key, rotation);
    if (this.pending.size > MOST_PENDING) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    this.schedule(0);
  }

  /**
   * Whether the rotation of `presentedHash` found at `rotatedAt` was an unanswered one (of any instance),
   * not yet claimed and not expired at `now`: claimed by this call, so true once. This process's own
   * rotations of that token not written yet are written first; a failure of that write, or of the
   * claim, rejects (the retry is answered 503, and everything is kept for the next).
   */
  async claim(presentedHash: string, rotatedAt: Date, now: Date): Promise<boolean> {
    const own = [...this.pending.values()].filter((rotation) => rotation.presentedHash === presentedHash);
    if (own.length > 0) await this.write(own, now);
    const { rowCount } = await this.pool.query(
      `UPDATE ${this.table} SET answered_at = $3
       WHERE presented_hash = $1 AND rotated_at = $2 AND answered_at IS NULL AND keep_until > $3`,
      [presentedHash, rotatedAt, now],
    );
    return rowCount === 1;
  }

  /** Writes what is pending, once (at a store's close: a restarted instance remembers nothing). */
  async flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size > 0) await this.write([...this.pending.values()], new Date()).catch(() => {});
  }

  private schedule(ms: number): void {
    if (this.timer !== null) return;
    // Unreferenced: a pending record never keeps the process from exiting.
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.writePending();
    }, ms).unref();
  }

  private async writePending(): Promise<void> {
    if (this.pending.size === 0) return;
    if (this.pool.ending) {
      // The store is closing (close() flushed what it could): nothing is sent to an ended pool.
      this.pending.clear();
      return;
    }
    try {
      await this.write([...this.pending.values()], new Date());
      this.retryMs = FIRST_RETRY_MS;
    } catch {
      // The database is still away (or refuses writes): tried again, less often, until it answers.
      this.retryMs = Math.min(this.retryMs * 2, LAST_RETRY_MS);
      this.schedule(this.retryMs);
    }
  }

  /**
   * Records those of `rotations` that committed, in one statement (a failed batch is many), and
   * forgets them: written, or expired by `now` (unwritten, a record would have expired too). Only a
   * rotation whose successor is stored, created at its time, is recorded: one that never committed is
   * no rotation of the token, and its retry rotates it afresh. ON CONFLICT: a write repeated after an
   * unanswered one, or racing a claim's, adds nothing (nor takes back an answered_at). Expired records
   * are deleted here, where the table grows: it holds at most the last day's unanswered rotations.
   */
  private async write(rotations: UnansweredRotation[], now: Date): Promise<void> {
    const live = rotations.filter(
      (rotation) => rotation.now.getTime() + UNANSWERED_KEPT_SECONDS * 1000 > now.getTime(),
    );
    if (live.length > 0) {
      await this.pool.query(
        `WITH input AS (
           SELECT presented, successor, timestamptz 'epoch' + at_ms * interval '1 millisecond' AS at
           FROM unnest($1::text[], $2::text[], $3::bigint[]) AS i(presented, successor, at_ms)
         ), pruned AS (
           DELETE FROM ${this.table} WHERE keep_until <= $4 AND presented_hash <> ALL ($1::text[])
         )
         INSERT INTO ${this.table} (presented_hash, successor_hash, rotated_at, keep_until)
         SELECT i.presented, i.successor, i.at, i.at + $5 * interval '1 second' FROM input i
         WHERE EXISTS (SELECT FROM ${this.refreshTokens} t WHERE t.token = i.successor AND t.created_at = i.at)
         ON CONFLICT (presented_hash) DO NOTHING`,
        [
          arrayLiteral(live.map((rotation) => rotation.presentedHash)),
          arrayLiteral(live.map((rotation) => rotation.successorHash)),
          arrayLiteral(live.map((rotation) => rotation.now.getTime())),
          now,
          UNANSWERED_KEPT_SECONDS,
        ],
      );
    }
    for (const rotation of rotations) {
      const key = `${rotation.presentedHash} ${rotation.now.getTime()}`;
      if (this.pending.get(key) === rotation) this.pending.delete(key);
    }
  }
}

/**
 * Migration 65: restauth's record of rotations whose answer was lost (UnansweredRefreshes), shared by
 * every instance on the database. Hashes only: a successor cannot be derived from anything here.
 * Closed to PostgREST's roles as every table of restauth's schema (migrationObjectsClosedSql).
 */
export function unansweredRefreshesSql(t: Pick<SessionTables, 'unanswered'>): string {
  return `
    CREATE TABLE ${t.unanswered} (
      presented_hash text PRIMARY KEY,
      successor_hash text NOT NULL,
      rotated_at timestamptz NOT NULL,
      keep_until timestamptz NOT NULL,
      answered_at timestamptz
    );
    COMMENT ON TABLE ${t.unanswered} IS
      'restauth: refresh-token rotations committed whose answer was lost (a connection died after COMMIT); a retry on any instance gets the successor once (answered_at)';
  `;
}
