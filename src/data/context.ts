import type { DataConfig } from '../config/schema.js';
import { AuthError } from '../core/errors.js';
import type { FileDatabase } from '../stores/file/file-database.js';
import { decide, type Caller, type Decision, type Operation } from './access.js';
import { withoutSecrets } from './collections.js';
import type { Row } from './query.js';

/** What every data handler needs: the document, the options, and the access rules. */
export class DataContext {
  constructor(
    readonly db: FileDatabase,
    readonly config: DataConfig,
    readonly usersProp: string,
    readonly userIdProp: string,
  ) {}

  get idProp(): string {
    return this.config.id;
  }

  rule(collection: string): number {
    return this.config.rules[collection] ?? this.config.defaultRule;
  }

  /** Throws 401/403 unless allowed; tells whether the caller is limited to their own records. */
  allow(collection: string, operation: Operation, caller: Caller | null): Decision {
    return decide(this.rule(collection), operation, caller);
  }

  /** Who owns a record: the owner property, or in the users collection the record itself. */
  ownerOf(collection: string, row: Row): string | null {
    const value = collection === this.usersProp ? row[this.userIdProp] : row[this.config.ownerProp];
    return value === undefined || value === null ? null : String(value);
  }

  isOwn(collection: string, row: Row, decision: Decision): boolean {
    return decision.scope === 'all' || this.ownerOf(collection, row) === decision.sub;
  }

  assertOwn(collection: string, row: Row, decision: Decision): void {
    if (!this.isOwn(collection, row, decision))
      throw new AuthError('forbidden', 'This record belongs to another user');
  }

  /** A record as it may leave the server: user records lose any secret-looking key. */
  present(collection: string, row: Row): Row {
    return collection === this.usersProp ? withoutSecrets(row) : row;
  }

  collection(name: string): unknown {
    return Object.hasOwn(this.db.data, name) ? this.db.data[name] : undefined;
  }

  rows(name: string): Row[] | null {
    const value = this.collection(name);
    // Not copied: lists are served straight from the document (entries that are not objects are skipped where it matters).
    return Array.isArray(value) ? (value as Row[]) : null;
  }
}
