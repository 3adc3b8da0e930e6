import type { RE2JS as RE2JSClass } from 're2js';
import safeRegex from 'safe-regex2';
import { DataError } from './errors.js';
import { assertOrdinaryPath, ownValue } from './keys.js';
import type { FieldLookup } from './field-index.js';
import { deepContains, type RecordCache } from './record-cache.js';
import { formAtMost, formLess, LooseForms } from './loose.js';
import { loadRe2js } from '../lib/re2.js';

/**
 * json-server 0.17.4's list query language over plain arrays: field filters
 * (deep paths, repeated keys meaning OR), _gte/_lte/_ne/_like, q, _sort/_order,
 * _page/_limit, _start/_end/_limit. Same results as json-server, except that a
 * bad or catastrophic _like pattern is a 400 instead of a 500 or a hang.
 */
export type Row = Record<string, unknown>;
export type QueryValue = string | string[];
export type Query = Record<string, QueryValue | undefined>;

const CONTROL_KEYS = new Set([
  'q',
  '_start',
  '_end',
  '_page',
  '_sort',
  '_order',
  '_limit',
  '_embed',
  '_expand',
  '_dependent',
  '_delay',
]);
const OPERATOR = /(_lte|_gte|_ne|_like)$/;
const RANGE = /(_lte|_gte)$/;
const MAX_PATTERN_LENGTH = 256;
/**
 * The largest RE2 program a _like pattern may compile to (RE2JS programSize: its instructions). RE2
 * is linear in the text, but its cost per character grows with the program, and counted repetition
 * makes a short pattern a large program: `[a-z]{1000}` twenty times (221 characters) is 20,003
 * instructions and took 37 s of CPU on one 100 KB field (the body limit's default), sixteen of them
 * (MAX_FILTER_VALUES) ten minutes, the event loop held throughout. Twice the longest pattern: any
 * pattern without counted repetition fits (each character compiles to at most one instruction, and
 * case folding adds none), and `x{1,250}` still does.
 */
const MAX_PROGRAM_SIZE = 2 * MAX_PATTERN_LENGTH;
/**
 * Bounds on one request's work (a URL of a few kilobytes could otherwise ask
 * for minutes: 1,500 `_like` patterns over 10,000 records took 8.8 s, 2,000
 * `_sort` fields 69 s, each stalling every other request meanwhile).
 */
const MAX_FILTER_VALUES = 16;
const MAX_SORT_FIELDS = 4;
/**
 * The text (UTF-16 code units) the `_like` patterns run on RE2 may read in one request. Within the
 * program bound RE2 still costs 10 to 40 ms of CPU per 100 KB of text (a loaded machine, re2js 2.10),
 * so a list of a few hundred long fields cost seconds with one pattern and sixteen times that with
 * MAX_FILTER_VALUES of them. 1 Mi characters is at most about 0.4 s: ten thousand titles of 100
 * characters still fit, and the other filters run first (filterRows), so narrowing a list (an owner,
 * an id range) is how a larger collection is searched with such a pattern.
 */
export const MAX_LIKE_SCAN = 1 << 20;

/** What the `_like` patterns run on RE2 have left to read in one request (MAX_LIKE_SCAN). */
class ScanBudget {
  private left = MAX_LIKE_SCAN;

  /** Charges `characters` before they are read; refuses (400) the request once over. */
  spend(characters: number): void {
    this.left -= characters;
    if (this.left < 0) {
      throw new DataError(
        'validation_failed',
        `_like patterns that repeat or alternate read at most ${MAX_LIKE_SCAN} characters per request: narrow the list with another filter, or use a plain pattern`,
      );
    }
  }
}

export function first(value: QueryValue | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function all(value: QueryValue | undefined): string[] {
  return value === undefined ? [] : ([] as string[]).concat(value);
}

function getKeys(value: unknown, keys: readonly string[]): unknown {
  let current = value;
  for (const key of keys) {
    current = ownValue(current, key);
    if (current === undefined) return undefined;
  }
  return current;
}

function hasPath(value: unknown, path: string): boolean {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return false;
    current = (current as Record<string, unknown>)[key];
  }
  return true;
}

/** A compiled _like pattern; `onRe2` when it runs on RE2 and spends the request's ScanBudget. */
interface Like {
  test(text: string): boolean;
  onRe2?: true;
}

/** Patterns without repetition or alternation: a backtracking engine runs them in linear time per start. */
const PLAIN_PATTERN = /^(?:[^\\()|*+?{}]|\\[^1-9kpPux])*$/;

/**
 * Compiles a _like pattern, case-insensitive as json-server's. Refuses (400)
 * an invalid pattern and the classic catastrophic ones (nested quantifiers,
 * which safe-regex2 detects). Any pattern that repeats or alternates runs on
 * RE2 (re2js: linear time whatever the pattern and the text), since
 * heuristics miss super-linear cases such as `(x|x)*y` or `.*.*.*z`; plain
 * ones (the usual "contains" or "starts with") run on the native engine.
 */
function likePattern(pattern: string, budget: ScanBudget): Like {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new DataError('validation_failed', `_like pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  let native: RegExp;
  try {
    native = new RegExp(pattern, 'i');
  } catch {
    throw new DataError('validation_failed', `_like pattern is not a valid regular expression: ${pattern}`);
  }
  if (!safeRegex(native)) {
    throw new DataError('validation_failed', `_like pattern could take exponential time: ${pattern}`);
  }
  if (PLAIN_PATTERN.test(pattern)) return native;
  let compiled: RE2JSClass;
  try {
    const RE2JS = loadRe2js();
    compiled = RE2JS.compile(pattern, RE2JS.CASE_INSENSITIVE);
  } catch {
    throw new DataError(
      'validation_failed',
      `_like pattern uses a feature without a linear-time match (back-reference, look-around): ${pattern}`,
    );
  }
  if (compiled.programSize() > MAX_PROGRAM_SIZE) {
    throw new DataError(
      'validation_failed',
      `_like pattern repeats too much (a count such as {1000} costs as much as writing it out): ${pattern}`,
    );
  }
  return {
    test(text) {
      budget.spend(text.length);
      return compiled.test(text);
    },
    onRe2: true,
  };
}

/** `costly`: runs a pattern on RE2, so it runs after every other filter (on the fewest records). */
type Predicate = ((row: Row) => boolean) & { costly?: true };

function fieldPredicate(key: string, values: string[], budget: ScanBudget, forms: LooseForms): Predicate {
  const keys = key.replace(OPERATOR, '').split('.');
  const isGte = key.endsWith('_gte');
  const isRange = isGte || key.endsWith('_lte');
  const isNe = key.endsWith('_ne');
  const patterns = key.endsWith('_like') ? values.map((value) => likePattern(value, budget)) : null;
  const predicate: Predicate = (row) => {
    const element = getKeys(row, keys);
    if (element === undefined || element === null) return false;
    // The element is converted once (forms), not once per value it meets; several values of one
    // key: any may match, except _ne where all must. Loose comparisons on purpose: json-server
    // compares the query string with numbers this way.
    if (isRange) {
      const form = forms.form(element);
      return values.some((value) => (isGte ? formAtMost(value, form) : formAtMost(form, value)));
    }
    const text = forms.string(element);
    if (isNe) return values.every((value) => value !== text);
    if (text === null) return false;
    if (patterns) return patterns.some((pattern) => pattern.test(text));
    return values.includes(text);
  };
  if (patterns?.some((pattern) => pattern.onRe2)) predicate.costly = true;
  return predicate;
}

/** What makes a list cheaper without changing its answer (see filterRows). */
export interface ListHelpers {
  /** Equality and range indexes over `rows`, which must then be the whole collection they index. */
  index?: FieldLookup | null;
  /** Each record's search text, kept between requests (without an index). */
  cache?: RecordCache;
  /** The request's converted values (LooseForms), shared with its sort and index builds. */
  forms?: LooseForms;
}

/**
 * Filters and full-text search, in json-server's order; unknown fields are
 * ignored as it does. With an index, equality filters read their candidates
 * from it instead of scanning: the smallest candidate list is then filtered
 * as `rows` would be; range, `_like` and `q` the same from range and text indexes.
 */
export function filterRows(
  rows: Row[],
  query: Query,
  { index = null, cache, forms = new LooseForms() }: ListHelpers = {},
): Row[] {
  const predicates: Predicate[] = [];
  let candidates: readonly Row[] = rows;
  /**
   * The predicate the candidates meet by construction, when an index gave
   * exactly its matches (an equality's buckets group records by `String(value)`
   * as it compares; `q`'s text index holds the texts it searches): not run again.
   */
  let met: Predicate | null = null;
  const q = first(query.q);
  if (q) {
    const needle = q.toLowerCase();
    const predicate: Predicate = cache
      ? (row) => cache.contains(row, needle)
      : (row) =>
          typeof row === 'object' &&
          row !== null &&
          Object.values(row).some((value) => deepContains(value, needle));
    predicates.push(predicate);
    const found = index?.search(needle);
    if (found) [candidates, met] = [found, predicate];
  }
  let values = 0;
  const budget = new ScanBudget();
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined || CONTROL_KEYS.has(key) || key === 'callback' || key === '_') continue;
    assertOrdinaryPath(key.replace(OPERATOR, ''), 'A filtered field');
    values += all(raw).length;
    if (values > MAX_FILTER_VALUES) {
      throw new DataError('validation_failed', `At most ${MAX_FILTER_VALUES} filter values per request`);
    }
    const isEquality = !OPERATOR.test(key);
    // json-server drops a filter on a field no record has (it would otherwise match nothing).
    if (isEquality && !(index ? index.has(key.split('.')) : rows.some((row) => hasPath(row, key)))) continue;
    const predicate = fieldPredicate(key, all(raw), budget, forms);
    predicates.push(predicate);
    if (!index) continue;
    if (isEquality) {
      const matching = index.looseMatches(key.split('.'), all(raw));
      if (matching.length < candidates.length) [candidates, met] = [matching, predicate];
    } else if (all(raw).length === 1) {
      const path = key.replace(OPERATOR, '').split('.');
      const matching = RANGE.test(key)
        ? index.looseRange(path, key.endsWith('_gte') ? 'min' : 'max', all(raw)[0]!)
        : key.endsWith('_like')
          ? index.looseLike(path, all(raw)[0]!)
          : null;
      // A superset: every predicate still runs on it.
      if (matching && matching.length < candidates.length) [candidates, met] = [matching, null];
    }
  }
  if (predicates.length === 0) return rows;
  const remaining = predicates
    .filter((predicate) => predicate !== met)
    .sort((a, b) => Number(a.costly ?? false) - Number(b.costly ?? false));
  // A copy: the candidates may be an index's own array.
  if (remaining.length === 0) return [...candidates];
  // One pass, no intermediate arrays: a row must pass every predicate.
  if (remaining.length === 1) return candidates.filter(remaining[0]!);
  return candidates.filter((row) => remaining.every((predicate) => predicate(row)));
}

/** A record's value at one sort path, and its form for the loose comparisons (LooseForms). */
interface SortKey {
  value: unknown;
  form: unknown;
}

function compare(a: SortKey, b: SortKey): number {
  // lodash orderBy: undefined last, then natural < / > comparison.
  if (a.value === b.value) return 0;
  if (a.value === undefined) return 1;
  if (b.value === undefined) return -1;
  if (a.value === null) return 1;
  if (b.value === null) return -1;
  return formLess(a.form, b.form) ? -1 : formLess(b.form, a.form) ? 1 : 0;
}

/**
 * json-server's order. Each record's values are read and converted once
 * before sorting (decorate-sort-undecorate): a sort compares each record
 * about 2 log n times, and converting a stored array at each comparison made
 * `_sort` on a field of large arrays cost seconds.
 */
export function sortRows(
  rows: Row[],
  sort: string | undefined,
  order: string | undefined,
  forms = new LooseForms(),
): Row[] {
  if (!sort) return rows;
  const fields = sort.split(',');
  if (fields.length > MAX_SORT_FIELDS) {
    throw new DataError('validation_failed', `At most ${MAX_SORT_FIELDS} _sort fields per request`);
  }
  for (const field of fields) assertOrdinaryPath(field, 'A sorted field');
  const orders = (order ?? '').split(',').map((o) => o.toLowerCase());
  const paths = fields.map((field) => field.split('.'));
  const decorated = rows.map((row) => ({
    row,
    keys: paths.map((path): SortKey => {
      const value = getKeys(row, path);
      return { value, form: forms.form(value) };
    }),
  }));
  decorated.sort((left, right) => {
    for (let i = 0; i < paths.length; i++) {
      const result = compare(left.keys[i]!, right.keys[i]!);
      if (result !== 0) return orders[i] === 'desc' ? -result : result;
    }
    return 0;
  });
  return decorated.map(({ row }) => row);
}

export interface Page {
  rows: Row[];
  /** Set when json-server sends X-Total-Count (_page, _end or _limit given). */
  total?: number;
  links?: Record<'first' | 'prev' | 'next' | 'last', number | undefined> & { current: number };
}

function toInt(value: string | undefined): number {
  return Number.parseInt(value ?? '', 10);
}

/** _page/_limit, else _start/_end, else _start/_limit: as json-server slices. */
export function paginate(rows: Row[], query: Query): Page {
  const page = first(query._page);
  const end = first(query._end);
  const limit = first(query._limit);
  if (!page && !end && !limit) return { rows };
  const total = rows.length;
  if (page) {
    const current = Math.max(toInt(page) || 1, 1);
    const perPage = toInt(limit) || 10;
    const start = (current - 1) * perPage;
    const items = rows.slice(start, current * perPage);
    if (items.length === 0) return { rows: [], total };
    const links = {
      current,
      first: items.length !== total ? 1 : undefined,
      prev: current > 1 ? current - 1 : undefined,
      next: current * perPage < total ? current + 1 : undefined,
      last: items.length !== total ? Math.ceil(total / perPage) : undefined,
    };
    return { rows: items, total, links };
  }
  const start = toInt(first(query._start)) || 0;
  if (end) return { rows: rows.slice(start, toInt(end)), total };
  return { rows: rows.slice(start, start + toInt(limit)), total };
}
