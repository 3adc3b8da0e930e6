import { basename, dirname, join } from 'node:path';
import { Journal, type JsonObject } from './journal.js';
import { normalizeCredentials, type CredentialsDocument } from './records.js';

/** The maps of credentials.json a journal line may change (see records.ts). */
export type CredentialsMap =
  'accounts' | 'identities' | 'sessions' | 'refreshTokens' | 'oneTimeTokens' | 'flowStates' | 'oauthFlows';

const MAPS: ReadonlySet<string> = new Set<CredentialsMap>([
  'accounts',
  'identities',
  'sessions',
  'refreshTokens',
  'oneTimeTokens',
  'flowStates',
  'oauthFlows',
]);

/**
 * One change to credentials.json, as a line of its journal: an entry of a map
 * as it now is, or its removal; a user's password entry, or its removal
 * (null). Whole entries, so a replay is idempotent.
 */
type CredentialsChange =
  | { op: 'put'; map: CredentialsMap; key: string; value: JsonObject }
  | { op: 'delete'; map: CredentialsMap; key: string }
  | { op: 'password'; sub: string; password: string | null };

/**
 * What a credentials transaction changed, as it reports it: the keys it
 * wrote or removed. The lines are made when the transaction ends, from the
 * entries as they then are, so an entry edited in place after it was
 * reported is journaled with its last edit.
 */
export class CredentialChanges {
  private readonly entries = new Map<CredentialsMap, Set<string>>();
  private readonly passwords = new Set<string>();

  /** The entry under `key` in `map` was put, edited or removed. */
  wrote(map: CredentialsMap, key: string): void {
    let keys = this.entries.get(map);
    if (!keys) this.entries.set(map, (keys = new Set()));
    keys.add(key);
  }

  /** The password entry of user `sub` was put, changed or removed. */
  wrotePassword(sub: string): void {
    this.passwords.add(sub);
  }

  get isEmpty(): boolean {
    return this.entries.size === 0 && this.passwords.size === 0;
  }

  /** The journal lines of the reported changes, read from `doc` as it is now. */
  lines(doc: CredentialsDocument): string[] {
    const lines: string[] = [];
    const add = (change: CredentialsChange) => lines.push(`${JSON.stringify(change)}\n`);
    for (const [map, keys] of this.entries) {
      const entries: Record<string, unknown> = doc[map];
      for (const key of keys) {
        if (Object.hasOwn(entries, key)) add({ op: 'put', map, key, value: entries[key] as JsonObject });
        else add({ op: 'delete', map, key });
      }
    }
    if (this.passwords.size > 0) {
      // A scan: passwords is json-data-server's array, and only a user's removal reports one here.
      const found = new Map(doc.passwords.filter((e) => this.passwords.has(e.sub)).map((e) => [e.sub, e]));
      for (const sub of this.passwords)
        add({ op: 'password', sub, password: found.get(sub)?.password ?? null });
    }
    return lines;
  }
}

/** Where the journal of a credentials.json lives: beside it, hidden like db.json's. */
export function credentialsJournalPathFor(credentialsFile: string): string {
  return join(dirname(credentialsFile), `.${basename(credentialsFile)}.journal`);
}

/** The journal of credentials.json's sessions, tokens and account changes (see Journal). */
export class CredentialsJournal extends Journal<CredentialsChange> {
  constructor(path: string) {
    super(path, { parse: parseCredentialsChange, apply: applyCredentialsChange });
  }
}

function parseCredentialsChange(value: unknown): CredentialsChange {
  const change = value as Partial<Record<string, unknown>> | null;
  const isEntry =
    typeof change === 'object' &&
    change !== null &&
    typeof change.map === 'string' &&
    MAPS.has(change.map) &&
    typeof change.key === 'string';
  const ok =
    (isEntry &&
      ((change.op === 'put' && typeof change.value === 'object' && change.value !== null) ||
        change.op === 'delete')) ||
    (typeof change === 'object' &&
      change !== null &&
      change.op === 'password' &&
      typeof change.sub === 'string' &&
      (typeof change.password === 'string' || change.password === null));
  if (!ok) throw new Error('expected a put or delete of an entry, or a password');
  return change as CredentialsChange;
}

function applyCredentialsChange(doc: JsonObject, change: CredentialsChange): void {
  // Null-prototype maps: a key is an own property whatever its name (see normalizeCredentials).
  const credentials = normalizeCredentials(doc);
  if (change.op === 'password') {
    const at = credentials.passwords.findIndex((entry) => entry.sub === change.sub);
    if (change.password === null) {
      if (at !== -1) credentials.passwords.splice(at, 1);
    } else if (at === -1) credentials.passwords.push({ sub: change.sub, password: change.password });
    else credentials.passwords[at]!.password = change.password;
    return;
  }
  const entries = credentials[change.map] as Record<string, unknown>;
  // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
  if (change.op === 'put') entries[change.key] = change.value;
  else delete entries[change.key];
}
