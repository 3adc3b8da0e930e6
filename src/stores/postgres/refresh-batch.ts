import pg from 'pg';
import type { OneStatementRefresh } from '../../core/ports/store.js';
import {
  isConnectionFault,
  isLoginRefused,
  isPrivilegeRefused,
  isResourceShortage,
  isSchemaChanged,
  isWriteRefused,
} from './faults.js';

/** One refresh as Store.refreshInOneStatement takes it. */
export interface RefreshEntry {
  presentedHash: string;
  successorHash: string;
  now: Date;
  inactiveBefore: Date;
}

/** The most entries one statement carries (its arrays' length). */
const MOST_PER_BATCH = 64;

/**
 * Whether the server refused a batch for what one of its entries may have met: a constraint (a
 * successor's hash already stored), a deadlock or serialization failure, a lock or statement
 * timeout waiting for one token's row. Its transaction rolled back, nothing of the batch was written,
 * and each entry alone costs what it cost before batching. Not so an error of the whole server: a
 * lost or refused connection (class 08, whose batch may even have committed; a database dropped; a
 * connection ended by a timeout), resources (53), a shutdown (57P), read-only (25006), a refused
 * login or privilege, a part of the schema changed under the server, a system or internal error (58,
 * XX), which each entry alone would meet as well: sent again they would only multiply the statements
 * (and, for a refused connection, the logins) of a struggling server, 65 for one of 64 entries.
 */
function entryRefused(error: unknown): boolean {
  return (
    error instanceof pg.DatabaseError &&
    error.code !== undefined &&
    !/^(57P|58|XX)/.test(error.code) &&
    !isConnectionFault(error) &&
    !isLoginRefused(error) &&
    !isPrivilegeRefused(error) &&
    !isSchemaChanged(error) &&
    !isWriteRefused(error) &&
    !isResourceShortage(error)
  );
}

interface Waiting {
  entry: RefreshEntry;
  resolve: (answer: OneStatementRefresh | null) => void;
  reject: (error: unknown) => void;
}

/**
 * Refreshes asked for in the same turn of the event loop (16 clients' requests read in one poll
 * phase), sent as one statement: one round trip, one transaction and one WAL flush for all of them,
 * where each cost its own. Each caller is answered once the statement that rotated its token has
 * committed, with its own entry's answer. What the batch could not decide alone goes to `alone`, the
 * one-refresh statement, which answers it as before: an entry the batch has no row for (a session
 * another transaction holds, which the batch skips rather than waits for; an ended session's or
 * unknown token), a second entry for a token already in the batch, and every entry of a batch the
 * server refused for what one entry may have met (a deadlock, a unique violation, a lock timeout: the
 * transaction rolled back, so nothing of it was written), so one entry's failure fails no other. A
 * batch the whole server refused (entryRefused) is not sent again: its callers get the error, as a
 * lone refresh's caller does.
 */
export class RefreshBatcher {
  private waiting: Waiting[] = [];

  constructor(
    private readonly batch: (entries: RefreshEntry[]) => Promise<(OneStatementRefresh | null)[]>,
    private readonly alone: (entry: RefreshEntry) => Promise<OneStatementRefresh | null>,
  ) {}

  refresh(entry: RefreshEntry): Promise<OneStatementRefresh | null> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => this.send());
      this.waiting.push({ entry, resolve, reject });
    });
  }

  private send(): void {
    const waiting = this.waiting;
    this.waiting = [];
    const presented = new Set<string>();
    const batched: Waiting[] = [];
    for (const one of waiting) {
      if (presented.has(one.entry.presentedHash)) {
        this.sendAlone(one);
        continue;
      }
      presented.add(one.entry.presentedHash);
      batched.push(one);
      if (batched.length === MOST_PER_BATCH) this.sendBatch(batched.splice(0));
    }
    this.sendBatch(batched);
  }

  private sendBatch(batched: Waiting[]): void {
    if (batched.length === 0) return;
    if (batched.length === 1) {
      this.sendAlone(batched[0]!);
      return;
    }
    this.batch(batched.map((one) => one.entry)).then(
      (answers) => {
        batched.forEach((one, index) => {
          const answer = answers[index];
          if (answer) one.resolve(answer);
          else this.sendAlone(one);
        });
      },
      (error: unknown) => {
        if (entryRefused(error)) for (const one of batched) this.sendAlone(one);
        else for (const one of batched) one.reject(error);
      },
    );
  }

  private sendAlone(one: Waiting): void {
    this.alone(one.entry).then(one.resolve, one.reject);
  }
}
