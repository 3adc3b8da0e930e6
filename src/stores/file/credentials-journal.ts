import { basename, dirname, join } from 'node:path';
import type { AuditEvent } from '../../core/ports/store.js';
import { auditLineText, isAuditLine, type AuditFile } from './audit-file.js';
import { entryFromDisk, entryToDisk } from './credentials-dates.js';
import {
  Journal,
  type JournalBase,
  type JournalMark,
  type JsonObject,
  type Recovered,
  type Replayer,
} from './journal.js';
import { normalizeCredentials, spentIdTokensOf, type CredentialsDocument } from './records.js';

/** The maps of credentials.json a journal line may change (see records.ts). */
export type CredentialsMap =
  | 'accounts'
  | 'identities'
  | 'sessions'
  | 'refreshTokens'
  | 'oneTimeTokens'
  | 'flowStates'
  | 'oauthFlows'
  | 'spentIdTokens';

const MAPS: ReadonlySet<string> = new Set<CredentialsMap>([
  'accounts',
  'identities',
  'sessions',
  'refreshTokens',
  'oneTimeTokens',
  'flowStates',
  'oauthFlows',
  'spentIdTokens',
]);

/**
 * One change to credentials.json, as a line of its journal: an entry of a map
 * as it now is, or its removal; a user's password entry, or its removal
 * (null). Whole entries, so a replay is idempotent.
 */
type CredentialsChange =
  | { op: 'put'; map: CredentialsMap; key: string; value: JsonObject }
  | { op: 'delete'; map: CredentialsMap; key: string }
  | { op: 'password'; sub: string; password: string | null }
  | { op: 'audit'; event: JsonObject };

/**
 * How an audit event's line starts: `{"op":"audit","event":` + the audit file's line (auditLineText)
 * + `}`. The event is the audit log's (audit-file.ts), journaled here so that it is durable in the
 * commit of the writes it records (a sign-in's session): one fdatasync instead of two.
 */
const AUDIT_LINE_START = '{"op":"audit","event":';

/**
 * What a credentials transaction changed, as it reports it: the keys it
 * wrote or removed. The lines are made when the transaction ends, from the
 * entries as they then are, so an entry edited in place after it was
 * reported is journaled with its last edit.
 */
export class CredentialChanges {
  private readonly entries = new Map<CredentialsMap, Set<string>>();
  /** The password entries written, by user: null for a removal (read when the transaction ends). */
  private readonly passwords = new Map<string, { password: string } | null>();
  /** Audit events recorded with these changes, as the audit file's lines (auditLineText). */
  private readonly audited: string[] = [];

  /** The entry under `key` in `map` was put, edited or removed. */
  wrote(map: CredentialsMap, key: string): void {
    let keys = this.entries.get(map);
    if (!keys) this.entries.set(map, (keys = new Set()));
    keys.add(key);
  }

  /**
   * The password entry of user `sub` was put or changed (`entry`, the stored
   * object, read when the transaction ends) or removed (null). The entry is
   * passed, not looked up: passwords is json-data-server's array, and a
   * lookup would scan every user's.
   */
  wrotePassword(sub: string, entry: { password: string } | null): void {
    this.passwords.set(sub, entry);
  }

  /** An audit event committed with these changes (journaled after them: see CredentialsJournal). */
  recorded(event: AuditEvent): void {
    this.audited.push(auditLineText(event));
  }

  get isEmpty(): boolean {
    return this.entries.size === 0 && this.passwords.size === 0 && this.audited.length === 0;
  }

  /** The journal lines of the audit events alone (a commit that rewrites credentials.json journals only these). */
  auditLines(): string[] {
    return this.audited.map((line) => `${AUDIT_LINE_START}${line.slice(0, -1)}}\n`);
  }

  /** The journal lines of the reported changes, read from `doc` as it is now (dates as the file has them). */
  lines(doc: CredentialsDocument): string[] {
    const lines: string[] = [];
    const add = (change: CredentialsChange) => lines.push(`${JSON.stringify(change)}\n`);
    for (const [map, keys] of this.entries) {
      const entries: Record<string, unknown> = doc[map] ?? {};
      for (const key of keys) {
        if (Object.hasOwn(entries, key))
          add({ op: 'put', map, key, value: entryToDisk(map, entries[key] as JsonObject) });
        else add({ op: 'delete', map, key });
      }
    }
    for (const [sub, entry] of this.passwords)
      add({ op: 'password', sub, password: entry?.password ?? null });
    // Last: a crash tearing this commit's write may keep the writes without their event (a commit never
    // acknowledged: its session reached no one), never the event without the writes it records.
    lines.push(...this.auditLines());
    return lines;
  }
}

/** Where the journal of a credentials.json lives: beside it, hidden like db.json's. */
export function credentialsJournalPathFor(credentialsFile: string): string {
  return join(dirname(credentialsFile), `.${basename(credentialsFile)}.journal`);
}

/**
 * The journal of credentials.json's sessions, tokens and account changes (see Journal), and of the
 * audit events committed with them (a sign-in's): those go on to the audit log once their commit
 * succeeded (`acknowledge`), which writes them lazily; before the journal is emptied they are made
 * durable there (`clear`), and after a crash the start appends those the log lacks (`recover`).
 */
export class CredentialsJournal extends Journal<CredentialsChange> {
  /** How many of the journal's lines were looked at for audit events to hand to the audit log. */
  private handedOver = 0;
  /** The audit lines met during a recovery (`lines` null: not recovering, a replay ignores them). */
  private readonly recovery: { lines: string[] | null };

  constructor(
    path: string,
    private readonly auditLog: AuditFile,
    /** credentials.json as restauth last read or wrote it, which the lines apply to (see Journal). */
    base: (() => JournalBase) | null = null,
  ) {
    const recovery: { lines: string[] | null } = { lines: null };
    super(
      path,
      {
        parse: parseCredentialsChange,
        replayer: (doc) => {
          const replay = credentialsReplayer(doc);
          return {
            apply: (change) => {
              if (change.op === 'audit') recovery.lines?.push(auditEventLine(change.event));
              else replay.apply(change);
            },
            // A line credentials.json holds already (a kill after its rewrite, before the journal was
            // emptied): its audit event may still be missing from the audit log, which emptying syncs.
            skip: (change) => {
              if (change.op === 'audit') recovery.lines?.push(auditEventLine(change.event));
            },
          };
        },
      },
      base,
    );
    this.recovery = recovery;
  }

  /** After a commit succeeded: the audit events it journaled go to the audit log, to be written there. */
  acknowledge(): void {
    const events: string[] = [];
    for (let index = this.handedOver; index < this.lines.length; index++) {
      const line = this.lines[index]!;
      if (line.startsWith(AUDIT_LINE_START)) events.push(line.slice(AUDIT_LINE_START.length, -2) + '\n');
    }
    this.handedOver = this.lines.length;
    this.auditLog.journaled(events);
  }

  override async recover(doc: JsonObject): Promise<Recovered> {
    const lines: string[] = [];
    this.recovery.lines = lines;
    try {
      const recovered = await super.recover(doc);
      // Before the start removes this journal: the events must then be in the audit log's own file.
      await this.auditLog.restore(lines);
      return recovered;
    } finally {
      this.recovery.lines = null;
    }
  }

  override async undoSince(mark: JournalMark): Promise<void> {
    await super.undoSince(mark);
    this.handedOver = Math.min(this.handedOver, this.lines.length);
  }

  /** Emptied only once its audit events are on disk in the audit log: else it keeps them (and throws). */
  override async clear(): Promise<void> {
    this.acknowledge();
    await this.auditLog.sync().catch((error: unknown) => {
      // Said as what it stops: the journal keeps the events, so it cannot be emptied (and grows).
      const { code, syscall } = error as Partial<NodeJS.ErrnoException>;
      throw Object.assign(
        new Error(
          `the audit log ${basename(this.auditLog.path)} cannot be written (${error instanceof Error ? error.message : String(error)}), ` +
            `so ${basename(this.path)} keeps its events`,
          { cause: error },
        ),
        { code, syscall },
      );
    });
    await super.clear();
    this.handedOver = 0;
  }

  override async remove(): Promise<void> {
    await super.remove();
    this.handedOver = 0;
  }
}

/** The audit file's line of an event parsed from a journal line. */
function auditEventLine(event: JsonObject): string {
  return `${JSON.stringify(event)}\n`;
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
      (typeof change.password === 'string' || change.password === null)) ||
    (typeof change === 'object' && change !== null && change.op === 'audit' && isAuditLine(change.event));
  if (!ok) throw new Error('expected a put or delete of an entry, a password, or an audit event');
  return change as CredentialsChange;
}

type PasswordEntry = CredentialsDocument['passwords'][number];

/**
 * Applies changes to `doc` for one replay. The password entries are looked
 * up by user in a map built at the replay's first password line: a journal
 * of sign-ups holds a password line each, and a scan of json-data-server's
 * array per line would cost every user's entry per sign-up replayed.
 */
function credentialsReplayer(doc: JsonObject): Replayer<CredentialsChange> {
  let bySub: Map<string, PasswordEntry> | null = null;
  const passwordsBySub = (passwords: PasswordEntry[]) => {
    if (bySub) return bySub;
    bySub = new Map();
    for (const entry of passwords) if (!bySub.has(entry.sub)) bySub.set(entry.sub, entry);
    return bySub;
  };
  return { apply: (change) => applyCredentialsChange(doc, change, passwordsBySub) };
}

function applyCredentialsChange(
  doc: JsonObject,
  change: CredentialsChange,
  passwordsBySub: (passwords: PasswordEntry[]) => Map<string, PasswordEntry>,
): void {
  // An audit event changes nothing in credentials.json (CredentialsJournal hands it to the audit log).
  if (change.op === 'audit') return;
  // Null-prototype maps: a key is an own property whatever its name (see normalizeCredentials).
  const credentials = normalizeCredentials(doc);
  if (change.op === 'password') {
    const passwords = credentials.passwords;
    const bySub = passwordsBySub(passwords);
    const entry = bySub.get(change.sub);
    if (change.password === null) {
      if (entry) passwords.splice(passwords.indexOf(entry), 1);
      bySub.delete(change.sub);
    } else if (entry) entry.password = change.password;
    else {
      const added = { sub: change.sub, password: change.password };
      passwords.push(added);
      bySub.set(change.sub, added);
    }
    return;
  }
  const entries = (
    change.map === 'spentIdTokens' ? spentIdTokensOf(credentials, true) : credentials[change.map]
  ) as Record<string, unknown>;
  // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
  if (change.op === 'put') entries[change.key] = entryFromDisk(change.map, change.value);
  else delete entries[change.key];
}
