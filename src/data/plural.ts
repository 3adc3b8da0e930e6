import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataError, isDataError } from './errors.js';
import type { JsonDocument, RecordChanges } from '../core/ports/documents.js';
import type { Caller, Decision } from './access.js';
import { foreignKey, fullUrl, isRow, sameId } from './collections.js';
import { isServed, type DataContext } from './context.js';
import { assertOrdinaryKey, ownValue } from './keys.js';
import { LooseForms } from './loose.js';
import { checkLinks, parentsOf } from './links.js';
import { assertNoIdentityChange, keepIdentityFields } from './user-fields.js';
import { all, filterRows, first, paginate, sortRows, type Query, type Row } from './query.js';

/**
 * json-server's plural resources (`/posts`, `/posts/:id`) with restauth's
 * access rules and fixes: durable writes, 409 on a duplicate id, no implicit
 * cascade, and no owner changes through a write.
 */
export interface PluralRequest {
  ctx: DataContext;
  name: string;
  caller: Caller | null;
  request: FastifyRequest;
  reply: FastifyReply;
  query: Query;
  /** The json-server-auth guard the URL named (`/600/posts/1`), which narrows the rules; null or absent: none. */
  guard?: number | null;
}

/**
 * What a write answers to a caller the rules let write `stored` but not read it (see
 * DataContext.mayRead): what they sent, under the record's id, rather than the stored record.
 */
function written(req: PluralRequest, stored: Row, input: Row): Row {
  return req.ctx.present(req.name, { ...input, [req.ctx.idProp]: stored[req.ctx.idProp] });
}

function body(request: FastifyRequest): Row {
  if (!isRow(request.body))
    throw new DataError('validation_failed', 'The request body must be a JSON object');
  return request.body;
}

/** nanoid(7)'s alphabet and length, as json-server gives string-id collections. */
function randomId(): string {
  return randomBytes(6).toString('base64url').slice(0, 7);
}

/**
 * The id a new record without one gets: json-server's (max + 1, else a random string; 1.x: always a
 * random string), and never one a record already has. max + 1 is the max itself from 2^53 on (a
 * client may POST `{"id": 9007199254740992}`), and every later record would share that id, the first
 * one answering for all: then, as for a random id that is taken, another random id is drawn.
 */
function freshId(ctx: PluralRequest['ctx'], name: string, rows: Row[]): string | number {
  const draw = ctx.config.jsonServer === '1' ? longRandomId : randomId;
  let id: string | number =
    ctx.config.jsonServer === '1' ? draw() : (ctx.ids.nextNumericId(name, rows) ?? draw());
  while (ctx.ids.find(name, rows, id) !== -1) id = draw();
  return id;
}

/** json-server 1.x's ids: always a random string, 8 bytes in base64url. */
function longRandomId(): string {
  return randomBytes(8).toString('base64url');
}

/** At most this many distinct collections are embedded or expanded by one request: its work stays bounded. */
export const MAX_RELATIONS = 8;

/**
 * At most this many bytes of JSON of embedded and expanded records in one answer. `_expand` copies a
 * parent into each of its children: one 90 KB post with 3,000 small comments (60 KB of them) made
 * `GET /comments?_expand=post` a 270 MB answer (1.35 GB of memory, 2.4 s of CPU), and twice the
 * comments one past the longest string V8 builds. A list asks for a page instead (`_page`, `_limit`).
 */
export const MAX_RELATION_BYTES = 32 * 1024 * 1024;

/**
 * The collection names a query parameter lists, each once (`_embed=comments`
 * sent 400 times is one embed), refused (400) when a name reaches a prototype.
 */
function names(value: Query[string], parameter: string): string[] {
  const unique = [...new Set(all(value))];
  for (const name of unique) assertOrdinaryKey(name, `A collection in ${parameter}`);
  return unique;
}

type Decorator = (row: Row) => Row;

/**
 * `_embed` (children by foreign key) and `_expand` (parent by foreign key),
 * each under its own access rule, prepared once per request: names
 * de-duplicated and bounded, rules decided once, children looked up in an
 * index by foreign key (built once per change of the document), parents
 * through the id index. A list's work is then one lookup per row and relation.
 */
/**
 * Counts the JSON bytes of the embedded and expanded records of one answer (each record's JSON is kept
 * per record: RecordCache), refusing (400) past MAX_RELATION_BYTES; each call returns the record.
 */
export function relationBytes(ctx: PluralRequest['ctx']): (record: Row) => Row {
  let bytes = 0;
  return (record) => {
    bytes += ctx.records.json(record).length;
    if (bytes > MAX_RELATION_BYTES) {
      throw new DataError(
        'validation_failed',
        `The answer would hold more than ${MAX_RELATION_BYTES / 1024 / 1024} MiB of embedded or expanded ` +
          `records: ask for a page (_page, _limit) or fewer relations`,
      );
    }
    return record;
  };
}

/** `count`: whether the relations added are counted against MAX_RELATION_BYTES here (see relationBytes). */
export function decorator(req: PluralRequest, count = true): Decorator {
  const { ctx } = req;
  const embeds = names(req.query._embed, '_embed');
  const expands = names(req.query._expand, '_expand');
  if (embeds.length === 0 && expands.length === 0) return (row) => ctx.present(req.name, row);
  if (embeds.length + expands.length > MAX_RELATIONS) {
    throw new DataError(
      'validation_failed',
      `At most ${MAX_RELATIONS} distinct collections may be embedded or expanded at once`,
    );
  }
  const key = foreignKey(req.name, ctx.config.foreignKeySuffix);
  const children = embeds.flatMap((child) => {
    const rows = ctx.rows(child);
    return rows ? [{ child, rows, decision: ctx.allow(child, 'read', req.caller) }] : [];
  });
  const parents = expands.flatMap((parent) => {
    const parentKey = `${parent}${ctx.config.foreignKeySuffix}`;
    // The collection `_embed` and `_dependent` read `feedbackId` as pointing into (links.ts), when
    // json-server's pluralize(parent) names none: `_expand=feedback` found no "feedbacks" and
    // expanded nothing, though `GET /feedback?_embed=replies` showed the same link from above.
    const plural = parentsOf(ctx, parentKey, ctx.documents.data)[0];
    const rows = plural === undefined ? null : ctx.rows(plural);
    if (plural === undefined || !rows) return [];
    const decision = ctx.allow(plural, 'read', req.caller);
    return [{ parent, plural, rows, decision, key: parentKey }];
  });
  // Counted as records are added, before any is written; json-server 1.x's lists count their page later.
  const counted = count ? relationBytes(ctx) : (record: Row) => record;
  return (row) => {
    const out: Row = { ...ctx.present(req.name, row) };
    for (const { child, rows, decision } of children) {
      // eslint-disable-next-line no-restricted-syntax -- `child` passed names(): assertOrdinaryKey refuses prototype keys with a 400
      out[child] = ctx
        .childrenOf(child, rows, key, ownValue(row, ctx.idProp))
        .filter((candidate) => ctx.isOwn(child, candidate, decision))
        .map((candidate) => counted(ctx.present(child, candidate)));
    }
    for (const { parent, plural, rows, decision, key: parentKey } of parents) {
      const found = ctx.find(plural, rows, ownValue(row, parentKey));
      // eslint-disable-next-line no-restricted-syntax -- `parent` passed names(): assertOrdinaryKey refuses prototype keys with a 400
      out[parent] =
        found && ctx.isOwn(plural, found, decision) ? counted(ctx.present(plural, found)) : undefined;
    }
    return out;
  };
}

function hasQuery(query: Query): boolean {
  for (const key in query) if (query[key] !== undefined) return true;
  return false;
}

export async function list(req: PluralRequest, decision: Decision): Promise<unknown> {
  const { ctx, name, reply } = req;
  let rows = ctx.rows(name) ?? [];
  if (decision.scope === 'all' && !hasQuery(req.query)) {
    // The plain full list, the heaviest answer: serialized once per change of the document.
    return reply.type('application/json; charset=utf-8').send(ctx.fullListJson(name, rows));
  }
  // The request's loose conversions: each stored value converted once, within one budget (loose.ts).
  const forms = new LooseForms();
  const index = ctx.fieldLookup(name, rows, decision, forms);
  // Under an owner rule the caller sees only their records, and X-Total-Count counts only those.
  if (decision.scope === 'own') rows = ctx.ownRows(name, rows, decision);
  // Users are filtered and sorted as they are shown, so no query can probe a secret field.
  if (name === ctx.usersProp) rows = rows.map((row) => (isRow(row) ? ctx.present(name, row) : row));
  rows = sortRows(
    filterRows(rows, req.query, { index, cache: ctx.records, forms }),
    first(req.query._sort),
    first(req.query._order),
    forms,
  );
  const page = paginate(rows, req.query);
  if (page.total !== undefined) {
    void reply.header('X-Total-Count', String(page.total));
    void reply.header('Access-Control-Expose-Headers', `X-Total-Count${req.query._page ? ', Link' : ''}`);
  }
  if (req.query._page !== undefined) {
    // Sent even when empty, as json-server does.
    const url = fullUrl(ctx.publicUrl, req.request);
    const links = page.links;
    const rels = links
      ? (['first', 'prev', 'next', 'last'] as const).filter((rel) => links[rel] !== undefined)
      : [];
    const current = `page=${links?.current}`;
    void reply.header(
      'Link',
      rels.map((rel) => `<${url.replace(current, `page=${links![rel]}`)}>; rel="${rel}"`).join(', '),
    );
  }
  if (name !== ctx.usersProp && !hasRelations(req.query)) {
    // The stored records as they are: each one's JSON is written once, not again for every list.
    return reply.type('application/json; charset=utf-8').send(ctx.records.jsonList(page.rows));
  }
  return page.rows.map(decorator(req));
}

/** Whether a list embeds or expands: its records are then new objects, built per request. */
function hasRelations(query: Query): boolean {
  return all(query._embed).length > 0 || all(query._expand).length > 0;
}

export async function show(req: PluralRequest, id: string, decision: Decision): Promise<unknown> {
  const rows = req.ctx.rows(req.name) ?? [];
  const row = req.ctx.find(req.name, rows, id);
  if (!row) return req.reply.code(404).send(req.ctx.notFound());
  req.ctx.assertOwn(req.name, row, decision);
  return decorator(req)(row);
}

/**
 * Whom a new record is given to when it names no owner: the caller, where the rule limits their
 * writes or their reads to their own records. Under a rule that lets them write every record but
 * read only their own (`620`), a record they made without naming themselves was nobody's, and no
 * longer theirs to claim later (DataContext.checkOwner): read by none.
 */
function ownerOfNew(req: PluralRequest, decision: Decision): string | null {
  if (decision.scope === 'own') return decision.sub;
  if (req.caller === null) return null;
  try {
    const read = req.ctx.allow(req.name, 'read', req.caller, req.guard ?? null);
    return read.scope === 'own' ? read.sub : null;
  } catch (error) {
    if (isDataError(error)) return null;
    throw error;
  }
}

export async function create(req: PluralRequest, decision: Decision, extra: Row = {}): Promise<unknown> {
  const { ctx, name, caller } = req;
  if (name === ctx.usersProp) {
    throw new DataError('forbidden', 'Users are created through the register route, not the data API');
  }
  const input: Row = { ...body(req.request), ...extra };
  const owner = ctx.config.ownerProp;
  ctx.checkOwner(name, input, null, caller);
  const maker = ownerOfNew(req, decision);
  // eslint-disable-next-line no-restricted-syntax -- ownerProp is configuration, not a client string
  if (maker !== null && input[owner] === undefined) input[owner] = maker;
  const created = await ctx.documents.transactRecords((data, changes) => {
    const rows = data[name];
    if (!Array.isArray(rows)) throw new DataError('not_found', `${name} is not a collection`);
    const record: Row = { ...input };
    const id = record[ctx.idProp];
    ctx.checkNewId(id);
    checkLinks(ctx, record, null, caller, data);
    // json-server's insert: a falsy id (absent, null, 0, "") gets a new one.
    if (!id) {
      // eslint-disable-next-line no-restricted-syntax -- idProp is configuration, not a client string
      record[ctx.idProp] = freshId(ctx, name, rows as Row[]);
    } else if (ctx.ids.find(name, rows as Row[], id) !== -1) {
      throw new DataError('conflict', `${name} already has a record with ${ctx.idProp} ${String(id)}`);
    }
    ctx.checkRecordSize(record);
    rows.push(record);
    ctx.ids.added(name, rows as Row[], record);
    changes.put(name, ctx.idProp, record);
    return record;
  });
  const path = fullUrl(ctx.publicUrl, req.request).split('?')[0];
  void req.reply.header('Access-Control-Expose-Headers', 'Location');
  // Encoded: an id is any string ("日本", "a/../b"), and a header is Latin-1 without line breaks (an id
  // outside it made Node throw after the commit: a stored record answered 500, and a retry 409).
  void req.reply.header('Location', `${path}/${encodeURIComponent(String(created[ctx.idProp]))}`);
  return req.reply.code(201).send(ctx.present(name, created));
}

export async function update(
  req: PluralRequest,
  id: string,
  decision: Decision,
  replace: boolean,
): Promise<unknown> {
  const { ctx, name, caller } = req;
  const input = body(req.request);
  ctx.checkNoSecrets(name, input);
  const writer = ctx.writeDecision(name, decision, caller);
  const owner = ctx.ownerKey(name);
  let readable = false;
  const updated = await ctx.documents.transactRecords((data, changes) => {
    const rows = (data[name] ?? []) as Row[];
    const index = ctx.ids.find(name, rows, id);
    const current = rows[index];
    if (!current) return null;
    // Checks the stored record, before anything changes (a throwing transaction must not have mutated).
    ctx.assertOwn(name, current, writer);
    readable = ctx.mayRead(name, current, caller, req.guard ?? null);
    ctx.checkOwner(name, input, current, caller);
    checkLinks(ctx, input, current, caller, data);
    const isUser = name === ctx.usersProp;
    if (isUser) assertNoIdentityChange(input, current);
    const next: Row = replace ? { ...input } : { ...current, ...input };
    if (isUser && replace) keepIdentityFields(next, current);
    // eslint-disable-next-line no-restricted-syntax -- idProp is configuration, not a client string
    next[ctx.idProp] = current[ctx.idProp];
    // A PUT that leaves the owner out keeps it: a replace cannot disown a record either.
    // eslint-disable-next-line no-restricted-syntax -- ownerProp is configuration, not a client string
    if (current[owner] !== undefined && current[owner] !== null) next[owner] = current[owner];
    ctx.checkRecordSize(next);
    // eslint-disable-next-line no-restricted-syntax -- an array index
    rows[index] = next;
    ctx.ids.changed(name, false);
    changes.put(name, ctx.idProp, next);
    return next;
  });
  if (!updated) return req.reply.code(404).send(req.ctx.notFound());
  return readable ? ctx.present(name, updated) : written(req, updated, input);
}

export async function destroy(req: PluralRequest, id: string, decision: Decision): Promise<unknown> {
  const { ctx, name } = req;
  if (name === ctx.usersProp) {
    throw new DataError('forbidden', 'Users are deleted through the auth API, not the data API');
  }
  // Dependents go only when asked (json-server deleted every orphan in every collection), and only
  // from what the data API serves: a db.json key it never serves ("auth") is no collection, as for `_embed`.
  const dependents = names(req.query._dependent, '_dependent')
    .filter(isServed)
    .map((child) => ({ child, decision: ctx.allow(child, 'write', req.caller) }));
  if (dependents.some(({ child }) => child === ctx.usersProp)) {
    throw new DataError('forbidden', 'Users are deleted through the auth API, not the data API');
  }
  const key = foreignKey(name, ctx.config.foreignKeySuffix);
  const isDependant = (row: unknown, parent: Row) => isRow(row) && sameId(row[key], parent[ctx.idProp]);
  const hasDependants = (data: JsonDocument, parent: Row) =>
    dependents.some(({ child }) => {
      const childRows = data[child];
      return Array.isArray(childRows) && childRows.some((row) => isDependant(row, parent));
    });
  /** `changes` null: a whole-document transaction, told through `unchanged` when it changed nothing. */
  const remove = (data: JsonDocument, changes: RecordChanges | null, unchanged?: () => void): Row | null => {
    const rows = (data[name] ?? []) as Row[];
    const index = ctx.ids.find(name, rows, id);
    const current = rows[index];
    if (!current) {
      unchanged?.();
      return null;
    }
    ctx.assertOwn(name, current, decision);
    for (const { child, decision: childDecision } of dependents) {
      const childRows = data[child];
      if (!Array.isArray(childRows)) continue;
      for (const row of childRows as Row[]) {
        if (isDependant(row, current)) ctx.assertOwn(child, row, childDecision);
      }
    }
    rows.splice(index, 1);
    ctx.ids.changed(name, true);
    changes?.delete(name, ctx.idProp, current[ctx.idProp]);
    for (const { child } of dependents) {
      const childRows = data[child];
      if (!Array.isArray(childRows)) continue;
      const kept = (childRows as Row[]).filter((row) => !isDependant(row, current));
      // No dependants there: the collection stays as it was, and nothing of it is written.
      if (kept.length === childRows.length) continue;
      // eslint-disable-next-line no-restricted-syntax -- `child` passed names(): assertOrdinaryKey refuses prototype keys with a 400
      data[child] = kept;
      // Dependants that came after the look below, in a journaled transaction: their collection is journaled whole.
      changes?.set(child, kept);
    }
    return current;
  };
  // Deleting dependants rewrites whole collections: db.json is rewritten (in pieces). Without any (looked
  // for now), only the record goes, journaled: a DELETE of a missing id or of a record nothing depends on
  // does not rewrite db.json.
  const rowsNow = (ctx.documents.data[name] ?? []) as Row[];
  const stored = rowsNow[ctx.ids.find(name, rowsNow, id)];
  const removed = await (stored !== undefined && hasDependants(ctx.documents.data, stored)
    ? ctx.documents.transactDocument((data, unchanged) => remove(data, null, unchanged))
    : ctx.documents.transactRecords(remove));
  if (!removed) return req.reply.code(404).send(req.ctx.notFound());
  // json-server 0.17 answered {}, 1.x the record it deleted (its id alone to a caller who may not read it).
  if (ctx.config.jsonServer !== '1') return {};
  return ctx.mayRead(name, removed, req.caller, req.guard ?? null)
    ? ctx.present(name, removed)
    : written(req, removed, {});
}
