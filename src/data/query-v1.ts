import pluralize from 'pluralize';
import { DataError } from './errors.js';
import { assertOrdinaryKey, assertOrdinaryPath, ownValue } from './keys.js';
import { formAtMost, formLess, LooseForms } from './loose.js';
import type { Row } from './query.js';

/**
 * json-server 1.x's list query language (`data.jsonServer: "1"`), as its
 * 1.0.0-beta.15 answers: `field:op=value` conditions (`lt`, `lte`, `gt`,
 * `gte`, `eq`, `ne`, `in`, `contains`, `startsWith`, `endsWith`; a bare
 * `field=value` is `eq`; 0.17's `views_gte` spelling too), values read as
 * numbers, booleans and null where they are ones, compared strictly; deep
 * paths (`author.name:eq=x`); `_where={"or": [...]}` as JSON; `_sort=a,-b`;
 * `_page` with `_per_page` (default 10) answered as
 * `{first, prev, next, last, pages, items, data}`; `_embed` naming children
 * (`comments`) or a parent (`post`). A condition on a field a record lacks
 * excludes the record (0.17 ignored the condition).
 *
 * Bounded as the 0.17 grammar is: at most 16 conditions, in the query
 * string or in `_where` alike, 4 sort fields, a `_where` of 4 KB nested 8
 * deep, `in` lists of 100; no path reaches a prototype.
 */
export const OPERATORS = [
  'lt',
  'lte',
  'gt',
  'gte',
  'eq',
  'ne',
  'in',
  'contains',
  'startsWith',
  'endsWith',
] as const;
type Operator = (typeof OPERATORS)[number];

function isOperator(value: string): value is Operator {
  return (OPERATORS as readonly string[]).includes(value);
}

/** A condition tree: field → nested tree or operators; `or` → alternatives. */
export type Where = { [key: string]: unknown };

/** json-server 1.x's own parameters, and restauth's that every grammar keeps (_delay, JSONP's callback). */
const RESERVED = new Set(['_sort', '_page', '_per_page', '_embed', '_where', '_delay', 'callback']);
const MAX_CONDITIONS = 16;
const MAX_SORT_FIELDS = 4;
const MAX_WHERE_LENGTH = 4096;
const MAX_WHERE_DEPTH = 8;
const MAX_IN_VALUES = 100;

export interface ListQuery {
  where: Where;
  sort: string | undefined;
  page: number | undefined;
  perPage: number | undefined;
  /** `_embed` names, each once: plural ones are children, singular ones the parent. */
  embed: string[];
}

function isObject(value: unknown): value is Where {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function splitKey(key: string): { path: string; op: Operator | null } {
  const colon = key.lastIndexOf(':');
  if (colon !== -1) {
    const path = key.slice(0, colon);
    const op = key.slice(colon + 1);
    if (!op) return { path: key, op: 'eq' };
    return isOperator(op) ? { path, op } : { path, op: null };
  }
  const underscore = /^(.*)_([a-z]+)$/u.exec(key);
  if (underscore && underscore[1] && isOperator(underscore[2]!)) {
    return { path: underscore[1], op: underscore[2] };
  }
  return { path: key, op: 'eq' };
}

function coerce(value: string): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (value === 'null') return null;
  if (value.trim() === '') return value;
  const number = Number(value);
  return Number.isFinite(number) ? number : value;
}

/** Sets `path.op` in a tree of null-prototype objects (every segment checked first). */
function setCondition(root: Where, path: string, op: Operator, value: unknown): void {
  assertOrdinaryPath(path, 'A filtered field');
  let node = root;
  for (const segment of path.split('.')) {
    const next = ownValue(node, segment);
    if (isObject(next)) node = next;
    else {
      const created: Where = Object.create(null) as Where;
      // eslint-disable-next-line no-restricted-syntax -- `node` has no prototype, `segment` passed assertOrdinaryPath
      node[segment] = created;
      node = created;
    }
  }
  // eslint-disable-next-line no-restricted-syntax -- `op` is one of OPERATORS
  node[op] = value;
}

/** A `_where` tree: a bounded size and depth, and no key reaching a prototype. */
function checkWhere(value: unknown, depth: number): void {
  if (depth > MAX_WHERE_DEPTH) throw new DataError('validation_failed', `_where is nested too deeply`);
  if (Array.isArray(value)) {
    for (const item of value) checkWhere(item, depth + 1);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, item] of Object.entries(value)) {
    assertOrdinaryKey(key, 'A _where field');
    checkWhere(item, depth + 1);
  }
}

/** The operators an object of a `_where` tree names: none for a field (or `or`) node. */
function operatorsOf(node: Where): Operator[] {
  return OPERATORS.filter((op) => Object.hasOwn(node, op));
}

/**
 * The conditions a `_where` tree tests each record with, counted as matchesWhere walks it: each
 * operator (`{"views": {"gt": 1, "lt": 5}}` is two), and each value standing where a condition
 * could (an empty `or` or object, a number in an `or` list...), which costs a test too. Refuses
 * (400) an `in` list longer than the query string's.
 */
function conditionsIn(where: Where): number {
  let count = 0;
  for (const [key, value] of Object.entries(where)) {
    if (key === 'or') {
      if (!Array.isArray(value) || value.length === 0) count++;
      else for (const item of value) count += isObject(item) ? conditionsIn(item) : 1;
      continue;
    }
    if (!isObject(value)) {
      count++;
      continue;
    }
    const ops = operatorsOf(value);
    if (ops.includes('in') && Array.isArray(value.in) && value.in.length > MAX_IN_VALUES) {
      throw new DataError('validation_failed', `At most ${MAX_IN_VALUES} values in an in list`);
    }
    count += ops.length > 0 ? ops.length : conditionsIn(value);
  }
  return Math.max(count, 1);
}

function integer(value: string | null): number | undefined {
  if (value === null) return undefined;
  const parsed = Number.parseInt(value, 10);
  return Number.isNaN(parsed) ? undefined : parsed;
}

/** The list parameters of a query string (without its `?`), as json-server 1.x reads them. */
export function parseListQuery(search: string): ListQuery {
  const params = new URLSearchParams(search);
  let where: Where = Object.create(null) as Where;
  let conditions = 0;
  for (const [key, raw] of params) {
    if (RESERVED.has(key)) continue;
    const { path, op } = splitKey(key);
    if (op === null) continue;
    if (++conditions > MAX_CONDITIONS) {
      throw new DataError('validation_failed', `At most ${MAX_CONDITIONS} conditions per request`);
    }
    if (op === 'in') {
      const values = raw.split(',');
      if (values.length > MAX_IN_VALUES) {
        throw new DataError('validation_failed', `At most ${MAX_IN_VALUES} values in an :in list`);
      }
      setCondition(
        where,
        path,
        op,
        values.map((part) => coerce(part.trim())),
      );
    } else setCondition(where, path, op, coerce(raw));
  }
  const rawWhere = params.get('_where');
  if (rawWhere !== null) {
    if (rawWhere.length > MAX_WHERE_LENGTH) {
      throw new DataError('validation_failed', `_where is longer than ${MAX_WHERE_LENGTH} characters`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawWhere);
    } catch {
      // json-server 1.x ignores a _where that is not JSON and keeps the other conditions.
    }
    if (typeof parsed === 'object' && parsed !== null) {
      checkWhere(parsed, 0);
      // Held to the query string's bound: 4 KB of `or` held about 200 conditions, each tested on every record.
      if (conditionsIn(parsed as Where) > MAX_CONDITIONS) {
        throw new DataError(
          'validation_failed',
          `_where holds more than ${MAX_CONDITIONS} conditions (each operator counts one, as in the query string)`,
        );
      }
      where = parsed as Where;
    }
  }
  const sort = params.get('_sort') ?? undefined;
  if (sort !== undefined) {
    const fields = sort.split(',');
    if (fields.length > MAX_SORT_FIELDS) {
      throw new DataError('validation_failed', `At most ${MAX_SORT_FIELDS} _sort fields per request`);
    }
    for (const field of fields) assertOrdinaryPath(field.replace(/^-/u, ''), 'A sorted field');
  }
  const embed = [...new Set(params.getAll('_embed'))];
  for (const name of embed) assertOrdinaryKey(name, 'A collection in _embed');
  return {
    where,
    sort,
    page: integer(params.get('_page')),
    perPage: integer(params.get('_per_page')),
    embed,
  };
}

/** A parent named in `_embed` (`post`) rather than children (`comments`), as json-server 1.x tells them. */
export function isParentName(name: string): boolean {
  return pluralize.singular(name) === name;
}

/**
 * What one record's test keeps while the tree is walked: each text field
 * lower-cased once for every text operator naming it (several `or`
 * alternatives on one field lower-cased it once each).
 */
class RecordScratch {
  private readonly lowered = new Map<string, string>();

  lower(text: string): string {
    let lower = this.lowered.get(text);
    if (lower === undefined) {
      lower = text.toLowerCase();
      this.lowered.set(text, lower);
    }
    return lower;
  }

  /** The next record. */
  clear(): void {
    if (this.lowered.size > 0) this.lowered.clear();
  }
}

type FieldTest = (field: unknown, scratch: RecordScratch) => boolean;

/**
 * One operator with its expected value, resolved once per request: json-server 1.x's comparisons,
 * JavaScript's own on whatever types meet (loose.ts: never a throw), each value converted once.
 */
function condition(op: Operator, expected: unknown, forms: LooseForms): FieldTest {
  switch (op) {
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const bound = forms.form(expected);
      if (op === 'lt') return (field) => formLess(forms.form(field), bound);
      if (op === 'lte') return (field) => formAtMost(forms.form(field), bound);
      if (op === 'gt') return (field) => formLess(bound, forms.form(field));
      return (field) => formAtMost(bound, forms.form(field));
    }
    case 'eq':
      return (field) => field === expected;
    case 'ne':
      return (field) => field !== expected;
    case 'in': {
      const values: unknown[] = Array.isArray(expected) ? expected : [expected];
      return (field) => values.some((value) => field === value);
    }
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return containsText(op, forms.string(expected));
  }
}

/** json-server 1.x's case-insensitive text operators; a _where value without a string form is in no text. */
function containsText(op: 'contains' | 'startsWith' | 'endsWith', needle: string | null): FieldTest {
  if (needle === null) return () => false;
  const lower = needle.toLowerCase();
  return (field, scratch) => {
    if (typeof field !== 'string') return false;
    const text = scratch.lower(field);
    return op === 'contains'
      ? text.includes(lower)
      : op === 'startsWith'
        ? text.startsWith(lower)
        : text.endsWith(lower);
  };
}

/** A value an `eq` condition can compare with by `===` and an index can hold. */
export type Scalar = string | number | boolean | null;

function isScalar(value: unknown): value is Scalar {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

/**
 * The `eq` conditions every record the tree matches meets (its conjunction,
 * `or` aside), each as its path of keys and value: what an index can narrow
 * a list by before matchesWhere decides. A nested path is met vacuously by a
 * record lacking the object on the way (matchesWhere skips it), as the
 * index's 'strict' keys say.
 */
export function requiredEqualities(
  where: Where,
  path: readonly string[] = [],
): Array<{ path: string[]; value: Scalar }> {
  const found: Array<{ path: string[]; value: Scalar }> = [];
  for (const [key, value] of Object.entries(where)) {
    if (key === 'or' || !isObject(value)) continue;
    const here = [...path, key];
    if (OPERATORS.some((op) => Object.hasOwn(value, op))) {
      if (Object.hasOwn(value, 'eq') && isScalar(value.eq)) found.push({ path: here, value: value.eq });
    } else found.push(...requiredEqualities(value, here));
  }
  return found;
}

/** The range operators, as the side of the bound the field's value must lie on. */
const RANGE_SIDES = { gt: 'min', gte: 'min', lt: 'max', lte: 'max' } as const;

/**
 * The range conditions (`gt`, `gte`, `lt`, `lte`) every record the tree
 * matches meets, `or` aside, as requiredEqualities finds `eq`: each with the
 * side its field lies on (`gt` is narrowed as `gte`, a superset) and its bound.
 */
export function requiredBounds(
  where: Where,
  path: readonly string[] = [],
): Array<{ path: string[]; side: 'min' | 'max'; bound: Scalar }> {
  const found: Array<{ path: string[]; side: 'min' | 'max'; bound: Scalar }> = [];
  for (const [key, value] of Object.entries(where)) {
    if (key === 'or' || !isObject(value)) continue;
    const here = [...path, key];
    if (OPERATORS.some((op) => Object.hasOwn(value, op))) {
      for (const [op, side] of Object.entries(RANGE_SIDES)) {
        const bound: unknown = value[op];
        if (Object.hasOwn(value, op) && isScalar(bound)) found.push({ path: here, side, bound });
      }
    } else found.push(...requiredBounds(value, here));
  }
  return found;
}

type RowTest = (row: unknown, scratch: RecordScratch) => boolean;

/** One node of a `_where` tree as a test: its entries, operators and values resolved once. */
function compileNode(where: Where, forms: LooseForms): RowTest {
  const tests: RowTest[] = [];
  for (const [key, value] of Object.entries(where)) {
    if (key === 'or') {
      if (!Array.isArray(value) || value.length === 0) {
        tests.push(() => false);
        continue;
      }
      // An alternative that is not an object matches nothing.
      const alternatives = value.filter(isObject).map((alternative) => compileNode(alternative, forms));
      tests.push((row, scratch) => alternatives.some((alternative) => alternative(row, scratch)));
      continue;
    }
    if (!isObject(value)) {
      tests.push(() => false);
      continue;
    }
    const ops = operatorsOf(value);
    if (ops.length > 0) {
      const conditions = ops.map((op) => condition(op, value[op], forms));
      tests.push((row, scratch) => {
        const field = ownValue(row, key);
        return field !== undefined && conditions.every((test) => test(field, scratch));
      });
      continue;
    }
    const nested = compileNode(value, forms);
    tests.push((row, scratch) => {
      const field = ownValue(row, key);
      return !isObject(field) || nested(field, scratch);
    });
  }
  return (row, scratch) => tests.every((test) => test(row, scratch));
}

/**
 * json-server 1.x's matchesWhere, reading own properties only, as a test
 * compiled once per request: the tree's entries and operators are resolved
 * and its values converted once, not again for every record and alternative;
 * `forms` converts the records' values, each once per request.
 */
export function compileWhere(where: Where, forms = new LooseForms()): (row: unknown) => boolean {
  const test = compileNode(where, forms);
  const scratch = new RecordScratch();
  return (row) => {
    scratch.clear();
    return test(row, scratch);
  };
}

/** Whether `row` meets `where` (compileWhere for one record). */
export function matchesWhere(row: unknown, where: Where): boolean {
  return compileWhere(where)(row);
}

function pathValue(row: unknown, path: readonly string[]): unknown {
  let current = row;
  for (const key of path) current = ownValue(current, key);
  return current;
}

/**
 * sort-on's order, as json-server 1.x sorts: `-field` descending, empty
 * values last (first descending). Each record's values are read and
 * converted once before sorting (decorate-sort-undecorate), not at each of
 * its 2 log n comparisons.
 */
export function sortRows(rows: Row[], sort: string | undefined, forms = new LooseForms()): Row[] {
  if (!sort) return rows;
  const fields = sort.split(',').map((field) => ({
    descending: field.startsWith('-'),
    path: field.replace(/^-/u, '').split('.'),
  }));
  const decorated = rows.map((row) => ({
    row,
    keys: fields.map(({ path }) => {
      const value = pathValue(row, path);
      return { value, form: forms.form(value) };
    }),
  }));
  decorated.sort((a, b) => {
    for (let i = 0; i < fields.length; i++) {
      const { descending } = fields[i]!;
      const { value: x, form: fx } = a.keys[i]!;
      const { value: y, form: fy } = b.keys[i]!;
      if (x === y) continue;
      if (y !== 0 && !y) return descending ? 1 : -1;
      if (x !== 0 && !x) return descending ? -1 : 1;
      if (typeof x === 'string' && typeof y === 'string') {
        const result = descending ? y.localeCompare(x) : x.localeCompare(y);
        if (result !== 0) return result;
        continue;
      }
      const less = formLess(fx, fy);
      return descending ? (less ? 1 : -1) : less ? -1 : 1;
    }
    return 0;
  });
  return decorated.map(({ row }) => row);
}

export interface PageOf<T> {
  first: number;
  prev: number | null;
  next: number | null;
  last: number;
  pages: number;
  items: number;
  data: T[];
}

/** json-server 1.x's page: `_page` and `_per_page` brought into range, never an error. */
export function paginate<T>(items: T[], page: number | undefined, perPage: number | undefined): PageOf<T> {
  const size = perPage === undefined ? 10 : perPage > 0 ? Math.floor(perPage) : 1;
  const pages = Math.max(1, Math.ceil(items.length / size));
  const current = Math.max(1, Math.min(page ?? 1, pages));
  return {
    first: 1,
    prev: current > 1 ? current - 1 : null,
    next: current < pages ? current + 1 : null,
    last: pages,
    pages,
    items: items.length,
    data: items.slice((current - 1) * size, current * size),
  };
}
