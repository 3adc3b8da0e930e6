import type { Decision } from './access.js';
import { isRow } from './collections.js';
import { ownValue } from './keys.js';
import { decorator, relationBytes, type PluralRequest } from './plural.js';
import type { Query, Row } from './query.js';
import type { FieldLookup } from './field-index.js';
import { LooseForms } from './loose.js';
import {
  compileWhere,
  isParentName,
  paginate,
  parseListQuery,
  requiredBounds,
  requiredEqualities,
  sortRows,
  type ListQuery,
} from './query-v1.js';

/**
 * json-server 1.x's lists (`data.jsonServer: "1"`), under the same access
 * rules as 0.17's: a caller limited to their own records sees only those,
 * and user records are filtered as they are shown. As json-server 1.x does,
 * records are embedded first and then filtered, sorted and paged.
 */

/** `_embed` as the 0.17 code takes it: children under `_embed`, a parent (`post`) under `_expand`. */
export function relationsOf(names: string[]): Query {
  return { _embed: names.filter((name) => !isParentName(name)), _expand: names.filter(isParentName) };
}

/**
 * The records that can meet the query's `eq` and range conditions, in
 * collection order: the smallest of their index lookups, or all records without an
 * index. A condition on a relation `_embed` adds is left to compileWhere's test
 * (the field is the embedded one, not the record's).
 */
function narrowed(rows: Row[], index: FieldLookup | null, query: ListQuery): readonly Row[] {
  if (!index) return rows;
  let candidates: readonly Row[] = rows;
  for (const { path, value } of requiredEqualities(query.where)) {
    if (query.embed.includes(path[0]!)) continue;
    const matching = index.strictMatches(path, value);
    if (matching.length < candidates.length) candidates = matching;
  }
  for (const { path, side, bound } of requiredBounds(query.where)) {
    if (query.embed.includes(path[0]!)) continue;
    const matching = index.strictRange(path, side, bound);
    if (matching && matching.length < candidates.length) candidates = matching;
  }
  return candidates;
}

export async function listV1(req: PluralRequest, decision: Decision): Promise<unknown> {
  const { ctx, name } = req;
  const query = parseListQuery(req.request.url.split('?')[1] ?? '');
  // The request's loose conversions: each stored value converted once, within one budget (loose.ts).
  const forms = new LooseForms();
  const all = ctx.rows(name) ?? [];
  const rows =
    decision.scope === 'own'
      ? ctx.ownRows(name, all, decision)
      : narrowed(all, ctx.fieldLookup(name, all, decision, forms), query).filter(isRow);
  // Embedded before the conditions, which may name them; counted against the bound only as answered.
  const present = decorator({ ...req, query: relationsOf(query.embed) }, false);
  const matches = compileWhere(query.where, forms);
  let shown: Row[] = rows.map(present).filter(matches);
  shown = sortRows(shown, query.sort, forms);
  if (query.embed.length > 0 || name === ctx.usersProp) {
    const answer = query.page === undefined ? shown : paginate(shown, query.page, query.perPage);
    assertRelationsFit(ctx, Array.isArray(answer) ? answer : answer.data, query.embed);
    return answer;
  }
  // The stored records as they are: each one's JSON is written once, not again for every list.
  let json: string;
  if (query.page === undefined) json = ctx.records.jsonList(shown);
  else {
    const page = paginate(shown, query.page, query.perPage);
    // The page's fields as JSON.stringify writes them, `data` last: `{"first":1,...,"data":[]}`.
    json = `${JSON.stringify({ ...page, data: [] }).slice(0, -3)}${ctx.records.jsonList(page.data)}}`;
  }
  return req.reply.type('application/json; charset=utf-8').send(json);
}

/** Refuses (400) an answer whose embedded records exceed MAX_RELATION_BYTES (plural.ts: relationBytes). */
function assertRelationsFit(ctx: PluralRequest['ctx'], rows: readonly Row[], embed: readonly string[]): void {
  const counted = relationBytes(ctx);
  for (const row of rows) {
    for (const name of embed) {
      const value = ownValue(row, name);
      if (Array.isArray(value)) for (const record of value) counted(record as Row);
      else if (isRow(value)) counted(value);
    }
  }
}
