import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataError } from './errors.js';
import { fullUrl, isRow } from './collections.js';
import type { DataContext } from './context.js';
import { isRead } from './read-methods.js';

/**
 * json-server's singular resources (a top-level object, e.g. `/profile`):
 * GET reads it, PUT and POST replace it (POST answers 201), PATCH merges.
 * Owner rules do not apply to them (they have no owner); read/write digits do.
 */
export async function singular(
  ctx: DataContext,
  name: string,
  request: FastifyRequest,
  reply: FastifyReply,
  /** Whether the caller may read it: a write's answer shows what is stored only then (DataContext.mayRead). */
  readable: boolean,
): Promise<unknown> {
  if (isRead(request)) return ctx.collection(name);
  if (request.method === 'DELETE')
    throw new DataError('method_not_allowed', `${name} is a single resource: it cannot be deleted`);
  const input = request.body;
  if (!isRow(input)) throw new DataError('validation_failed', 'The request body must be a JSON object');
  const merged = await ctx.documents.transactRecords((data, changes) => {
    const current = data[name];
    if (!isRow(current)) throw new DataError('not_found', `${name} is not a single resource`);
    const next = request.method === 'PATCH' ? { ...current, ...input } : { ...input };
    ctx.checkRecordSize(next);
    // eslint-disable-next-line no-restricted-syntax -- `name` is a served collection (ctx.collection: isServed, own keys only)
    data[name] = next;
    changes.set(name, next);
    return next;
  });
  // A PATCH by a caller who may not read the resource answers what it sent, not what it merged into.
  const answer = readable ? merged : input;
  if (request.method === 'POST') {
    void reply.header('Access-Control-Expose-Headers', 'Location');
    void reply.header('Location', fullUrl(ctx.publicUrl, request));
    return reply.code(201).send(answer);
  }
  return answer;
}
