import type { DataSettings } from './settings.js';
import { DataError, isDataError } from './errors.js';
import type { DocumentStore } from '../core/ports/documents.js';
import { decide, type Caller, type Decision, type Operation } from './access.js';
import { hasSecretKey, isRow, sameId, withoutSecrets } from './collections.js';
import { FieldIndexes, type FieldLookup } from './field-index.js';
import { ForeignKeyIndexes } from './foreign-key-index.js';
import { narrower } from './guards.js';
import { RecordCache } from './record-cache.js';
import { IdIndexes } from './id-index.js';
import { assertOrdinaryKey, isPrototypeKey } from './keys.js';
import { assertRecordSize } from './limits.js';
import type { Row } from './query.js';
import type { LooseForms } from './loose.js';

/** The auth dialects own /auth/...: the data API never serves a db.json key named "auth", nor lists it in /db. */
export const AUTH_PREFIX = 'auth';

/** The users collection's rule unless `rules` names it: owner only. */
const USERS_DEFAULT_RULE = 600;

/** Field indexes kept per collection unless told otherwise: at most this many copies of its order in memory. */
export const DEFAULT_INDEXED_FIELDS = 8;

/** Whether a top-level db.json key is served by the data API at all. */
export function isServed(name: string): boolean {
  return name !== AUTH_PREFIX && !isPrototypeKey(name);
}

/**
 * Why no `/posts/:id` URL can lead to a record with this id, or null. `.` and `..` are path segments
 * every URL parser removes, encoded or not (`/posts/%2E%2E` is `/`). An unpaired surrogate has no
 * UTF-8 form: encodeURIComponent throws on it (the Location header of a stored record answered 500
 * after the commit, and a retry 409) and a path naming it is malformed. Either way the record was
 * stored, then reachable by no GET, PATCH or DELETE.
 */
function unaddressableId(id: string): string | null {
  if (id === '.' || id === '..') return `may not be "${id}": URLs drop it as a path segment`;
  if (/\p{Cs}/u.test(id)) return 'may not hold an unpaired surrogate: no URL can carry it';
  return null;
}

/**
 * The user id an owner property names: a string as it is, a finite number as its decimal form (a
 * json-server-auth `db.json` stores `"userId": 1` for the user whose `sub` is "1"); anything else
 * (null, a boolean, an object, an array) names no one. Compared as `String(value)`, `null` was the
 * user named "null" (json-data-server users are keyed by name) and `true` the user "true": a POST
 * naming owner null passed as that user's own, and was stored as nobody's, which under an owner rule
 * not even its maker could read or delete again.
 */
export function ownerIdOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : null;
}

/** What every data handler needs: the document, the options, the access rules and the indexes. */
export class DataContext {
  readonly ids: IdIndexes;
  /** Children by foreign key, for `_embed`. */
  readonly children: ForeignKeyIndexes;
  /** Equality indexes per collection and field, for filtered lists. */
  private readonly fields: FieldIndexes;
  /** Each record's JSON and search text, for lists. */
  readonly records = new RecordCache();
  /** The last full-collection answers, serialized: a plain `GET /posts` is then a buffer write. */
  private readonly fullLists = new Map<
    string,
    { rows: Row[]; length: number; generation: number; json: Buffer }
  >();

  constructor(
    readonly documents: DocumentStore,
    readonly config: DataSettings,
    readonly usersProp: string,
    readonly userIdProp: string,
    private readonly maxRecordBytes: number,
    /** The server's public address without a trailing slash: the base of Location and Link. */
    readonly publicUrl: string,
    /** The rules the routes file's json-server-auth guards give (data/guards.ts), as last reloaded. */
    private readonly routeRules: () => Readonly<Record<string, number>> = () => ({}),
    /** Field indexes kept per collection (field-index.ts); 0 scans every filtered list. */
    maxIndexedFields: number = DEFAULT_INDEXED_FIELDS,
  ) {
    // The file store edits the users collection in place: its index is trusted for one generation only.
    this.ids = new IdIndexes(
      config.id,
      () => documents.generation,
      (name) => name === usersProp,
    );
    this.children = new ForeignKeyIndexes(() => documents.generation);
    this.fields = new FieldIndexes(config.id, maxIndexedFields, (row) => this.records.searchText(row));
    documents.onChange((change) => {
      this.fields.apply(change);
      // Records are replaced, never changed in place, by every change but a whole-document one.
      if (change.op === 'any') this.records.clear();
    });
    documents.onReload(() => {
      this.fields.clear();
      this.records.clear();
      this.ids.clear();
      this.children.clear();
      this.fullLists.clear();
    });
  }

  /** json-server's 404 body: `{}` in 0.17, `{"error": "Not Found"}` in 1.x. */
  notFound(): Record<string, string> {
    return this.config.jsonServer === '1' ? { error: 'Not Found' } : {};
  }

  get idProp(): string {
    return this.config.id;
  }

  rule(collection: string): number {
    // Own keys only: a collection named "constructor" must not find Object's constructor as its rule.
    if (Object.hasOwn(this.config.rules, collection)) return this.config.rules[collection]!;
    const guarded = this.routeRules();
    if (Object.hasOwn(guarded, collection)) return guarded[collection]!;
    // User records hold profiles (registration fields, GoTrue's user_metadata): without a rule of
    // their own, each user reads only their own, as GoTrue shows a user only their own metadata.
    return collection === this.usersProp ? USERS_DEFAULT_RULE : this.config.defaultRule;
  }

  /**
   * Throws 401/403 unless allowed; tells whether the caller is limited to their own records. `guard`:
   * the json-server-auth guard the request's URL named (`/664/posts`), which narrows the rule, never widens it.
   */
  allow(
    collection: string,
    operation: Operation,
    caller: Caller | null,
    guard: number | null = null,
  ): Decision {
    const rule = this.rule(collection);
    return decide(guard === null ? rule : narrower(rule, guard), operation, caller);
  }

  /** The property naming a record's owner: the owner property, or in the users collection the user id. */
  ownerKey(collection: string): string {
    return collection === this.usersProp ? this.userIdProp : this.config.ownerProp;
  }

  ownerOf(collection: string, row: Row): string | null {
    // As checkOwner accepts a new record's owner: a stored null, true or {"toString": 1} is no one's.
    return ownerIdOf(row[this.ownerKey(collection)]);
  }

  isOwn(collection: string, row: Row, decision: Decision): boolean {
    return decision.scope === 'all' || this.ownerOf(collection, row) === decision.sub;
  }

  /**
   * Whether the caller may read `row` of `collection` (under the URL's guard). A rule may let a caller
   * write what it does not let them read (`602`: anyone submits, each owner reads their own): a
   * write's answer shows the stored record only when this says so, or `PATCH /messages/1 {}` read
   * every message. `row` null: a singular resource, which has no owner (only a whole read reads it).
   */
  mayRead(collection: string, row: Row | null, caller: Caller | null, guard: number | null): boolean {
    let decision: Decision;
    try {
      decision = this.allow(collection, 'read', caller, guard);
    } catch (error) {
      if (isDataError(error)) return false;
      throw error;
    }
    return row === null ? decision.scope === 'all' : this.isOwn(collection, row, decision);
  }

  assertOwn(collection: string, row: Row, decision: Decision): void {
    if (!this.isOwn(collection, row, decision))
      throw new DataError('forbidden', 'This record belongs to another user');
  }

  /**
   * The decision for a write to a stored record. A user record is its owner's
   * alone whatever the users rule says (so a write needs a token); other
   * records follow the rule.
   */
  writeDecision(collection: string, decision: Decision, caller: Caller | null): Decision {
    if (collection !== this.usersProp) return decision;
    if (!caller) throw new DataError('no_authorization', 'No authorization');
    return { scope: 'own', sub: caller.sub };
  }

  /**
   * No write hands a record to someone else: a new record names no owner or
   * the caller (an owner rule fills it in), and a stored record's owner never
   * changes, nor does one stored without an owner get one: under a rule that
   * lets a caller write more than read (`620`), claiming such a record made
   * it theirs to read. Anonymous writes (public write digit) cannot name an
   * owner at all. A new record's owner must be the caller's id (ownerIdOf): an
   * explicit null, boolean, object or array is refused (403) as json-server-auth
   * refused any owner but the caller's, never filled in as an absent one is.
   */
  checkOwner(collection: string, input: Row, stored: Row | null, caller: Caller | null): void {
    const key = this.ownerKey(collection);
    const wanted = input[key];
    if (wanted === undefined) return;
    if (stored) {
      const current = stored[key];
      const unowned = current === undefined || current === null;
      if (unowned ? wanted !== null : !sameId(wanted, current))
        throw new DataError('forbidden', `A write cannot change ${key}`);
      return;
    }
    if (!caller || ownerIdOf(wanted) !== caller.sub) {
      throw new DataError('forbidden', `${key} must be your own user id`);
    }
  }

  /** Refuses password-like fields in a user record: passwords change through the auth routes. */
  checkNoSecrets(collection: string, input: Row): void {
    if (collection === this.usersProp && hasSecretKey(input)) {
      throw new DataError(
        'validation_failed',
        'Passwords change through the password route, not the data API',
      );
    }
  }

  /**
   * Refuses a record about to be stored that is too large (413): called in
   * the transaction on the record as it will be stored (a PATCH merges into
   * the stored one), before anything changes.
   */
  checkRecordSize(record: Row): void {
    assertRecordSize(record, this.maxRecordBytes);
  }

  /**
   * Refuses (400) a new record's id that would reach a prototype if ever used as a key, that is
   * neither a string nor a number (ids are compared as strings: an object's, an array's or a
   * boolean's string form would clash or name nothing), or that no URL can name (unaddressableId).
   */
  checkNewId(id: unknown): void {
    if (typeof id === 'string') {
      assertOrdinaryKey(id, 'A record id');
      const problem = unaddressableId(id);
      if (problem !== null) throw new DataError('validation_failed', `A record id ${problem}`);
    } else if (id && typeof id !== 'number')
      // A falsy id gets a new one (json-server's insert). An object, array or `true` would be stored
      // under its string form: {"a":1} and {"b":2} would clash as "[object Object]", and [] (the
      // empty string) no URL could name.
      throw new DataError('validation_failed', 'A record id must be a string or a number');
  }

  /** A record as it may leave the server: user records lose any secret-looking key. */
  present(collection: string, row: Row): Row {
    return collection === this.usersProp ? withoutSecrets(row) : row;
  }

  /**
   * A top-level value the data API serves, or undefined: never one under
   * /auth (the dialects' paths), never one whose name reaches a prototype
   * (a hand-edited db.json may hold a "__proto__" key).
   */
  collection(name: string): unknown {
    if (!isServed(name)) return undefined;
    return Object.hasOwn(this.documents.data, name) ? this.documents.data[name] : undefined;
  }

  rows(name: string): Row[] | null {
    const value = this.collection(name);
    // Not copied: lists are served straight from the document (entries that are not objects are skipped where it matters).
    return Array.isArray(value) ? (value as Row[]) : null;
  }

  /**
   * Equality indexes over the whole collection `name` (`rows`), when a list
   * may read from them: not for a caller limited to their own records (their
   * list is filtered as if the others did not exist), nor for users (filtered
   * as shown, without secret fields). Null: the list scans. An index built
   * for the list converts values within the request's `forms` (loose.ts).
   */
  fieldLookup(name: string, rows: Row[], decision: Decision, forms?: LooseForms): FieldLookup | null {
    if (decision.scope !== 'all' || name === this.usersProp) return null;
    return this.fields.lookup(name, rows, forms);
  }

  /**
   * The records of `name` (`rows`, the whole collection) a caller limited to
   * their own sees, in collection order: read from the owner field's
   * equality index (a record is the caller's when `String(owner)` is their
   * id, which is how that index groups records), else scanned. Users scan:
   * the file store edits their records in place, which no index can follow.
   */
  ownRows(name: string, rows: Row[], decision: Decision): Row[] {
    const own = (row: Row) => isRow(row) && this.isOwn(name, row, decision);
    if (decision.scope !== 'own' || name === this.usersProp) return rows.filter(own);
    const lookup = this.fields.lookup(name, rows);
    if (!lookup) return rows.filter(own);
    return lookup.looseMatches([this.config.ownerProp], [decision.sub]).filter(own);
  }

  /**
   * `_embed`'s children: the records of `collection` (`rows`, all of it)
   * whose `key` is `value` (===, as json-server embeds), in collection order.
   * Read from the key's strict equality index, which follows each write,
   * rather than a foreign-key index rebuilt after every write; users, and
   * every collection when indexing is off, use the latter.
   */
  childrenOf(collection: string, rows: Row[], key: string, value: unknown): readonly Row[] {
    const lookup = collection === this.usersProp ? null : this.fields.lookup(collection, rows);
    if (!lookup) return this.children.children(collection, rows, key, value);
    const scalar =
      value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
    // An object or array id is no child's key: json-server's === finds none.
    return scalar ? lookup.strictMatches([key], value).filter(isRow) : [];
  }

  /** The record with this id (compared as strings, as json-server does), or undefined. */
  find(name: string, rows: Row[], id: unknown): Row | undefined {
    const position = this.ids.find(name, rows, id);
    return position === -1 ? undefined : rows[position];
  }

  /**
   * The whole collection as JSON, serialized once per database generation
   * (every commit or reload bumps it, so a cached answer never outlives a
   * write the client was told about).
   */
  fullListJson(name: string, rows: Row[]): Buffer {
    const generation = this.documents.generation;
    const cached = this.fullLists.get(name);
    if (cached && cached.rows === rows && cached.length === rows.length && cached.generation === generation) {
      return cached.json;
    }
    const visible =
      name === this.usersProp ? rows.map((row) => (isRow(row) ? withoutSecrets(row) : row)) : rows;
    const json = Buffer.from(JSON.stringify(visible));
    this.fullLists.set(name, { rows, length: rows.length, generation, json });
    return json;
  }
}
