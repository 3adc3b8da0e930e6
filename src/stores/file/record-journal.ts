import { basename, dirname, join } from 'node:path';
import { Journal, type JournalBase, type JsonObject, type Replayer } from './journal.js';
import type { RecordChanges } from '../../core/ports/documents.js';

/** One change to db.json, as a line of the journal. */
type RecordChange =
  | { op: 'put'; collection: string; key: string; record: JsonObject }
  | { op: 'delete'; collection: string; key: string; id: unknown }
  | { op: 'set'; name: string; value: unknown };

/**
 * What a journaled transaction changed in db.json, recorded as it happens
 * (each change serialized at once: later edits of the same object belong to
 * later changes).
 */
export class JournaledChanges implements RecordChanges {
  readonly lines: string[] = [];

  /** The record now stored under its id (`key`) in a collection: inserted or replaced. */
  put(collection: string, key: string, record: JsonObject): void {
    this.add({ op: 'put', collection, key, record });
  }

  /** The record with this id (compared as strings) removed from a collection. */
  delete(collection: string, key: string, id: unknown): void {
    this.add({ op: 'delete', collection, key, id });
  }

  /** A top-level value (a singular resource) replaced. */
  set(name: string, value: unknown): void {
    this.add({ op: 'set', name, value });
  }

  private add(change: RecordChange): void {
    this.lines.push(`${JSON.stringify(change)}\n`);
  }
}

/** Where the journal of a db.json lives: beside it, hidden like its lock. */
export function journalPathFor(dataFile: string): string {
  return join(dirname(dataFile), `.${basename(dataFile)}.journal`);
}

/** The journal of db.json's record writes (see Journal). */
export class RecordJournal extends Journal<RecordChange> {
  /** `base`: db.json as restauth last read or wrote it, which the lines apply to (see Journal). */
  constructor(path: string, base: (() => JournalBase) | null = null) {
    super(
      path,
      {
        parse: parseRecordChange,
        replayer: recordReplayer,
      },
      base,
    );
  }
}

function parseRecordChange(value: unknown): RecordChange {
  const change = value as Partial<Record<string, unknown>> | null;
  const ok =
    typeof change === 'object' &&
    change !== null &&
    ((change.op === 'set' && typeof change.name === 'string') ||
      (change.op === 'put' &&
        typeof change.collection === 'string' &&
        typeof change.key === 'string' &&
        typeof change.record === 'object' &&
        change.record !== null) ||
      (change.op === 'delete' && typeof change.collection === 'string' && typeof change.key === 'string'));
  if (!ok) throw new Error('expected a put, delete or set of a record');
  return change as RecordChange;
}

/** Where each id's first row is in a rows array, by id property (what findIndex would answer). */
type Positions = Map<unknown[], { key: string; byId: Map<string, number> }>;

/**
 * Applies changes for one replay, finding each record through a map of its
 * collection's ids built at the collection's first change (a journal of
 * sign-ups puts a users record per line: a scan per line would cost every
 * user per sign-up replayed). The map follows the puts it applies; a
 * removal or a change under another id property builds it again.
 */
function recordReplayer(doc: JsonObject): Replayer<RecordChange> {
  const positions: Positions = new Map();
  return { apply: (change) => applyChange(doc, change, positions) };
}

function positionsOf(positions: Positions, rows: unknown[], key: string): Map<string, number> {
  const kept = positions.get(rows);
  if (kept?.key === key) return kept.byId;
  const byId = new Map<string, number>();
  rows.forEach((row, at) => {
    if (typeof row !== 'object' || row === null) return;
    const id = String((row as JsonObject)[key]);
    if (!byId.has(id)) byId.set(id, at);
  });
  positions.set(rows, { key, byId });
  return byId;
}

function applyChange(doc: JsonObject, change: RecordChange, positions: Positions): void {
  if (change.op === 'set') {
    // eslint-disable-next-line no-restricted-syntax -- collection names the data API journaled after refusing prototype keys (data/keys.ts), or restauth's own journal
    doc[change.name] = change.value;
    return;
  }
  // eslint-disable-next-line no-restricted-syntax -- collection names the data API journaled after refusing prototype keys (data/keys.ts), or restauth's own journal
  if (change.op === 'put') doc[change.collection] ??= [];
  const rows = doc[change.collection];
  // A collection replaced by a hand edit with something else: the change has nowhere to go.
  if (!Array.isArray(rows)) return;
  const id = String(change.op === 'put' ? change.record[change.key] : change.id);
  const byId = positionsOf(positions, rows, change.key);
  const index = byId.get(id) ?? -1;
  if (change.op === 'put') {
    if (index === -1) {
      byId.set(id, rows.length);
      rows.push(change.record);
    }
    // eslint-disable-next-line no-restricted-syntax -- an array index
    else rows[index] = change.record;
  } else if (index !== -1) {
    rows.splice(index, 1);
    // The rows after it moved: found again at the next change.
    positions.delete(rows);
  }
}
