import { foreignKey } from './collections.js';
import { create, list, type PluralRequest } from './plural.js';
import { isRead } from './read-methods.js';

/**
 * json-server's nested routes: `GET /posts/1/comments` (the comments whose postId is 1) and
 * `POST /posts/1/comments` (a new one for post 1). json-server-auth guarded them by the parent
 * (`"/posts*": "/600/posts$1"` checked post 1's owner before any nested answer), while restauth
 * checked the posts rule but never post 1: under owner-only posts, bob listed the comments of
 * alice's post by its URL, and `GET /users/<alice's id>/notes` answered past the users rule.
 *
 * So the parent answers first, as `GET /posts/1` would: 401 or 403 by the posts rule, and under a
 * rule that gives the caller only their own posts, 404 for a missing post and 403 for another
 * user's. Then the children's rule decides, as for `/comments`. A child is created under a parent
 * its writer may read (a comment on a public post of someone else's, as in a blog), never one
 * they may not. Under a parent collection read whole, a missing parent keeps json-server's answer
 * (an empty list; a POST names it): anyone may list that collection, so its ids are no secret.
 */
export interface NestedRequest extends PluralRequest {
  /** The parent collection (`posts`) and the id in the URL (`1`). */
  parent: { name: string; id: string };
  /** The json-server-auth guard the URL named (`/600/posts/1/comments`), narrowing both rules. */
  guard: number | null;
}

export async function nestedRoute(req: NestedRequest): Promise<unknown> {
  const { parent, guard, ...children } = req;
  const { ctx, caller, reply } = children;
  const parentDecision = ctx.allow(parent.name, 'read', caller, guard);
  const record = ctx.find(parent.name, ctx.rows(parent.name) ?? [], parent.id);
  if (parentDecision.scope === 'own') {
    if (!record) return reply.code(404).send(ctx.notFound());
    ctx.assertOwn(parent.name, record, parentDecision);
  }
  const key = foreignKey(parent.name, ctx.config.foreignKeySuffix);
  if (isRead(children.request)) {
    const decision = ctx.allow(children.name, 'read', caller, guard);
    return list({ ...children, query: { ...children.query, [key]: parent.id } }, decision);
  }
  // Keep the parent id's type (json-server stored "1" for a parent whose id is 1).
  return create(children, ctx.allow(children.name, 'write', caller, guard), {
    [key]: record ? record[ctx.idProp] : parent.id,
  });
}
