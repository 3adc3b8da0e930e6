import type { JsonDocument } from '../../core/ports/documents.js';
import { withoutSecrets } from '../../data/collections.js';
import { looseString } from '../../data/loose.js';

type Row = Record<string, unknown>;

const isRow = (value: unknown): value is Row => typeof value === 'object' && value !== null;

/**
 * The db.json record of a user by id, for json-server-auth's `user` in each register and login answer,
 * without scanning the users collection each time (50,000 users: a String() of each id per login).
 * Positions are kept for one users array: a hit is checked against the record it points at, records a
 * sign-up appended are indexed as they come, and anything else (a record removed or replaced, a hand
 * edit reloaded: a new array) is noticed by a check or a miss and costs one rebuild, never a wrong record.
 */
export class UserRecords {
  private rows: unknown[] | null = null;
  private readonly positions = new Map<string, number>();
  /** How many of `rows` the positions cover (a sign-up pushes its record after them). */
  private indexed = 0;

  constructor(
    private readonly data: () => JsonDocument,
    private readonly usersProp: string,
    private readonly userIdProp: string,
  ) {}

  /** The record as the data API shows it (no password-like field), or null. */
  find(id: string): Row | null {
    const data = this.data();
    const users = Object.hasOwn(data, this.usersProp) ? data[this.usersProp] : undefined;
    if (!Array.isArray(users)) return null;
    if (users !== this.rows) this.reset(users);
    const found = this.lookUp(users, id) ?? (this.reset(users), this.lookUp(users, id));
    return found === null ? null : withoutSecrets(found);
  }

  private lookUp(users: unknown[], id: string): Row | null {
    const at = this.positions.get(id);
    if (at !== undefined) {
      const row = users[at];
      if (isRow(row) && looseString(row[this.userIdProp]) === id) return row;
      return null;
    }
    for (; this.indexed < users.length; this.indexed++) {
      const row = users[this.indexed];
      if (!isRow(row)) continue;
      const key = looseString(row[this.userIdProp]);
      if (key === null) continue;
      if (!this.positions.has(key)) this.positions.set(key, this.indexed);
    }
    const after = this.positions.get(id);
    return after === undefined ? null : this.lookUp(users, id);
  }

  private reset(users: unknown[]): void {
    this.rows = users;
    this.positions.clear();
    this.indexed = 0;
  }
}
