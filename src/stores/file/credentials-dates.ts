import type { CredentialsMap } from './credentials-journal.js';
import type { JsonObject } from './journal.js';
import { isPlainObject } from '../../lib/is-plain-object.js';
import { jsonPieces } from './json-pieces.js';
import type { StoredDate } from './records.js';

/**
 * The dates of credentials.json's per-user records (accounts, identities,
 * sessions, refresh tokens) are ISO strings in the file and epoch
 * milliseconds in memory: at 50,000 users their seven dates a user were
 * 13 MiB of an 80 MiB heap as strings (40 B each), a number takes 16 B.
 * The conversion is here, at the edges: a document or journal entry read
 * from disk (`credentialsFromDisk`, `entryFromDisk`), and what is written
 * back (`credentialsText`, `entryToDisk`), so the files are byte for byte
 * what they were and an older restauth reads them (a rollback).
 *
 * A date that a number would not give back exactly (written by hand without
 * milliseconds, with microseconds, not a date at all) stays the string it
 * is: the file keeps its text. One-time tokens and flows keep their strings:
 * a few short-lived entries, not one a user.
 */

/** toISOString's own format with fields in range (4-digit year): the dates restauth writes. */
const CANONICAL =
  /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

const MS_PER_DAY = 86_400_000;

/**
 * The date as kept in memory: its epoch milliseconds when they give back the same text. A date in
 * toISOString's format is read from its digits: every such text with a day its month has is its own
 * number's text, and a day the month lacks (Date would roll it into the next month) is not, so it
 * stays its string. At 50,000 users Date.parse and formatting the number again to compare were
 * 0.4 s of a start. Any other text takes that round trip (test/stores/credentials-dates.property).
 */
export function storedDate(value: unknown): StoredDate {
  if (typeof value !== 'string') return value as StoredDate;
  if (CANONICAL.test(value)) return canonicalMs(value) ?? value;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return value;
  return new Date(ms).toISOString() === value ? ms : value;
}

/** The epoch milliseconds of a text CANONICAL matched, or undefined for a day its month lacks. */
function canonicalMs(text: string): number | undefined {
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  if (day > 28 && day > daysInMonth(year, month)) return undefined;
  const time = ((digits(text, 11, 2) * 60 + digits(text, 14, 2)) * 60 + digits(text, 17, 2)) * 1000;
  return daysFromCivil(year, month, day) * MS_PER_DAY + time + digits(text, 20, 3);
}

function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) value = value * 10 + text.charCodeAt(i) - 48;
  return value;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** 10000-01-01T00:00:00.000Z: from there on toISOString writes a 6-digit year with its sign. */
const YEAR_10000_MS = 253_402_300_800_000;
/** How many days' "YYYY-MM-DDT" dateText keeps (a slot a day, by its number modulo this). */
const DAY_PREFIXES = 1024;
const prefixDays = new Float64Array(DAY_PREFIXES).fill(-1);
const dayPrefixes = Buffer.alloc(DAY_PREFIXES * 11);
/** dateText's text, its separators in place: "YYYY-MM-DDThh:mm:ss.sssZ". */
const formatted = Buffer.from('0000-00-00T00:00:00.000Z', 'latin1');
let lastDate = Number.NaN;
let lastText = '';

/** The date as the file has it. */
export function dateText(date: StoredDate): string {
  if (typeof date !== 'number') return date;
  // An entry's dates are often the same instant (created, updated and signed in by one request).
  if (date === lastDate) return lastText;
  if (!(date >= 0 && date < YEAR_10000_MS && Number.isInteger(date))) return new Date(date).toISOString();
  // toISOString's text written byte by byte, its "YYYY-MM-DDT" kept per day: a whole-file write of
  // credentials.json formats every date (350,000 at 50,000 users), and toISOString made that write
  // 3 times as long as its JSON.stringify, an event-loop stall once per journal's worth of writes.
  // Concatenated parts would be a rope that JSON.stringify must flatten again; this is one flat string.
  const day = Math.floor(date / MS_PER_DAY);
  const slot = day % DAY_PREFIXES;
  if (prefixDays[slot] !== day) {
    // eslint-disable-next-line no-restricted-syntax -- a typed array's index
    prefixDays[slot] = day;
    dayPrefixes.write(new Date(day * MS_PER_DAY).toISOString().slice(0, 11), slot * 11, 'latin1');
  }
  dayPrefixes.copy(formatted, 0, slot * 11, slot * 11 + 11);
  const ms = date - day * MS_PER_DAY;
  const milliseconds = ms % 1000;
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  writeDigits(Math.floor(minutes / 60), 11, 2);
  writeDigits(minutes % 60, 14, 2);
  writeDigits(seconds % 60, 17, 2);
  writeDigits(milliseconds, 20, 3);
  lastDate = date;
  lastText = formatted.toString('latin1');
  return lastText;
}

function writeDigits(value: number, at: number, count: number): void {
  for (let i = at + count - 1; i >= at; i--) {
    // eslint-disable-next-line no-restricted-syntax -- a Buffer's index
    formatted[i] = 48 + (value % 10);
    value = Math.floor(value / 10);
  }
}

/** The date's epoch milliseconds (NaN for a string that is no date, as Date.parse). */
export function epochMs(date: StoredDate): number {
  return typeof date === 'number' ? date : Date.parse(date);
}

function storedOrNull(value: unknown): StoredDate | null {
  return value === null || value === undefined ? (value as null) : storedDate(value);
}

function textOrNull(date: StoredDate | null | undefined): string | null | undefined {
  return date === null || date === undefined ? date : dateText(date);
}

/** Which fields of an entry of each map are dates (each may be null or absent). */
const DATE_FIELDS: Partial<Record<CredentialsMap, readonly string[]>> = {
  accounts: ['emailConfirmedAt', 'createdAt', 'updatedAt', 'lastSignInAt', 'bannedUntil', 'invitedAt'],
  identities: ['lastSignInAt', 'createdAt', 'updatedAt'],
  sessions: ['createdAt', 'refreshedAt', 'notAfter', 'revokedAt'],
  refreshTokens: ['createdAt', 'rotatedAt'],
};

/** An entry of `map` read from disk (a journal line's), its dates converted in place. */
export function entryFromDisk(map: CredentialsMap, entry: JsonObject): JsonObject {
  const fields = DATE_FIELDS[map];
  if (fields === undefined) return entry;
  for (const field of fields) {
    // eslint-disable-next-line no-restricted-syntax -- the field comes from the fixed DATE_FIELDS list
    if (Object.hasOwn(entry, field)) entry[field] = storedOrNull(entry[field]);
  }
  if (map === 'sessions' && Array.isArray(entry.amr)) {
    for (const claim of entry.amr as unknown[]) {
      if (typeof claim === 'object' && claim !== null && 'at' in claim) claim.at = storedDate(claim.at);
    }
  }
  return entry;
}

/** A copy of an entry of `map` as the file has it (ISO dates), in the same key order. */
export function entryToDisk(map: CredentialsMap, entry: JsonObject): JsonObject {
  const fields = DATE_FIELDS[map];
  if (fields === undefined) return entry;
  const copy: JsonObject = { ...entry };
  for (const field of fields) {
    // eslint-disable-next-line no-restricted-syntax -- the field comes from the fixed DATE_FIELDS list
    if (Object.hasOwn(copy, field)) copy[field] = textOrNull(copy[field] as StoredDate | null | undefined);
  }
  if (map === 'sessions' && Array.isArray(copy.amr)) {
    copy.amr = (copy.amr as Array<{ at: StoredDate }>).map((claim) =>
      typeof claim === 'object' && claim !== null && 'at' in claim
        ? { ...claim, at: dateText(claim.at) }
        : claim,
    );
  }
  return copy;
}

const DATED_MAPS = Object.keys(DATE_FIELDS) as CredentialsMap[];

/**
 * credentials.json as parsed from its text, its dates converted in place: the in-memory document
 * (JSON.parse's objects, changed in place).
 * Maps it lacks stay absent (normalizeCredentials adds them at their first use, as before).
 */
export function credentialsFromDisk(doc: JsonObject): void {
  for (const map of DATED_MAPS) {
    const entries = doc[map];
    if (!isPlainObject(entries)) continue;
    // The null-prototype map normalizeCredentials wants (records.ts), made in place: JSON.parse's
    // object, which nothing else holds, where normalizeCredentials copied it key by key at its first
    // use (0.2 s of a 50,000-user start). Its keys are own properties, "__proto__" too, as in a copy.
    Object.setPrototypeOf(entries, null);
    for (const key in entries) {
      const entry = entries[key];
      if (isPlainObject(entry)) entryFromDisk(map, entry);
    }
  }
}

/** The text of credentials.json for the in-memory document: as written before dates were numbers. */
export function credentialsText(doc: JsonObject): string {
  const disk: JsonObject = { ...doc };
  for (const map of DATED_MAPS) {
    const entries = doc[map];
    if (!isPlainObject(entries)) continue;
    const copy: Record<string, unknown> = Object.create(null);
    for (const key in entries) {
      const entry = entries[key];
      // eslint-disable-next-line no-restricted-syntax -- a null-prototype map, as the one copied
      copy[key] = typeof entry === 'object' && entry !== null ? entryToDisk(map, entry as JsonObject) : entry;
    }
    // eslint-disable-next-line no-restricted-syntax -- the map comes from the fixed DATE_FIELDS list
    disk[map] = copy;
  }
  return `${JSON.stringify(disk, null, 2)}\n`;
}

/** How many entries of a map one piece of credentialsPieces holds: about 200 KB, a millisecond or two. */
const ENTRIES_PER_PIECE = 500;

/**
 * credentialsText's text in pieces, made one at a time (jsonPieces): what a compaction writes, so
 * that rewriting credentials.json at 50,000 users does not hold the event loop for the whole file.
 */
export function credentialsPieces(doc: JsonObject, perPiece = ENTRIES_PER_PIECE): Generator<string> {
  return jsonPieces(doc, perPiece, (map, entry) =>
    // As credentialsText: the entries of a dated map (an object of entries) with their dates as text.
    DATED_MAPS.includes(map as CredentialsMap) &&
    isPlainObject(doc[map]) &&
    typeof entry === 'object' &&
    entry !== null
      ? entryToDisk(map as CredentialsMap, entry as JsonObject)
      : entry,
  );
}
