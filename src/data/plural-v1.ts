import type { Decision } from './access.js';
import { isRow } from './collections.js';
import { decorator, type PluralRequest } from './plural.js';
import type { Query, Row } from './query.js';
import { isParentName, matchesWhere, paginate, parseListQuery, sortRows } from './query-v1.js';

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

export async function listV1(req: PluralRequest, decision: Decision): Promise<unknown> {
  const { ctx, name } = req;
  const query = parseListQuery(req.request.url.split('?')[1] ?? '');
  let rows = (ctx.rows(name) ?? []).filter(isRow);
  if (decision.scope === 'own') rows = rows.filter((row) => ctx.isOwn(name, row, decision));
  const present = decorator({ ...req, query: relationsOf(query.embed) });
  let shown: Row[] = rows.map(present).filter((row) => matchesWhere(row, query.where));
  shown = sortRows(shown, query.sort);
  return query.page === undefined ? shown : paginate(shown, query.page, query.perPage);
}
