/**
 * What the data API (src/data) needs of a JSON document: the port a backend
 * provides when it holds one (the file backend's db.json, src/stores/file/
 * file-database.ts). The data API reads the document in memory and changes it
 * only inside transactions, which the backend runs one after another and
 * acknowledges once they are durable.
 */

/** The document: collections (arrays of records) and singular resources (objects) by name. */
export type JsonDocument = Record<string, unknown>;

/** One record of a collection. */
export type JsonRecord = Record<string, unknown>;

/**
 * What a record transaction changed, reported as it happens: the backend may
 * then persist these changes alone (a journal line each) instead of the whole
 * document. A change the transaction makes but does not report may be lost.
 */
export interface RecordChanges {
  /** The record now stored under its id (`key` names the id property) in a collection: inserted or replaced. */
  put(collection: string, key: string, record: JsonRecord): void;
  /** The record with this id (compared as strings) removed from a collection. */
  delete(collection: string, key: string, id: unknown): void;
  /** A top-level value (a singular resource) replaced. */
  set(name: string, value: unknown): void;
}

/**
 * A change of the document as a transaction makes it, told to readers that
 * keep something derived from it (the data API's field indexes): the
 * record changes a transaction reports, or `any` when a transaction may have
 * changed anything (a whole-document transaction), which drops it all.
 */
export type DocumentChange =
  | { op: 'put'; collection: string; key: string; record: JsonRecord }
  | { op: 'delete'; collection: string; key: string; id: unknown }
  | { op: 'set'; name: string; value: unknown }
  | { op: 'any' };

/**
 * Thrown by a transaction that refuses, before it changed anything: the
 * backend rejects that transaction alone and keeps the others of its commit.
 * Anything else a transaction throws may have left a half-done change, which
 * the backend undoes.
 */
export class DocumentRefusal extends Error {
  override readonly name: string = 'DocumentRefusal';
}

export interface DocumentStore {
  /** The document as of the last commit (or reload). Read it; change it only inside a transaction. */
  readonly data: JsonDocument;
  /** Bumped whenever the document changes (commit or reload): readers rebuild what they derived lazily. */
  readonly generation: number;
  /** Called after the document was replaced by its durable version (a failed commit): drop derived indexes. */
  onReload(listener: () => void): void;
  /**
   * Called with each change a transaction makes, synchronously as it reports
   * it (so a reader never sees the document and the change apart). A commit
   * that fails afterwards reloads (onReload), which undoes what was told.
   */
  onChange(listener: (change: DocumentChange) => void): void;
  /**
   * `check` runs on a document saved outside the backend (a hand edit under --watch) before it is
   * applied: one it throws for is refused as one that does not parse (reported with the error's
   * message, not applied, the document in force kept), as the start refuses it.
   */
  checkEdits(check: (data: JsonDocument) => void): void;
  /**
   * Called before a request is served: the backend may notice changes made
   * outside it (a hand edit of db.json). Cheap, never fails.
   */
  beforeRead(): Promise<void>;
  /**
   * Resolves once the document holds only acknowledged writes (at once, or when the commit under way
   * is acknowledged or undone): awaited right before a read, so none answers a write a failed commit
   * then undoes.
   */
  settled(): Promise<void>;
  /** A transaction that changes records and reports each change through `changes`. */
  transactRecords<T>(fn: (data: JsonDocument, changes: RecordChanges) => T): Promise<T>;
  /**
   * A transaction that may change anything in the document (whole collections): persisted whole,
   * unless it calls `unchanged` (only when it changed nothing: a change it made is then lost).
   */
  transactDocument<T>(fn: (data: JsonDocument, unchanged: () => void) => T): Promise<T>;
}
