import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/** Headers of the page's own answer that the server answering the client sets for itself. */
const HOP_HEADERS = new Set(['connection', 'content-length', 'date', 'keep-alive', 'transfer-encoding']);

/**
 * The reference page at `GET /openapi` (Swagger UI, served from @fastify/swagger-ui's package). That
 * plugin and what it loads (@fastify/static, send, glob, yaml) held 3 MiB of an idle server for a page
 * most servers never show, so it is loaded at the page's first request, into a Fastify instance of its
 * own that serves the same document (@fastify/swagger's static mode, given `app.swagger()`): each
 * request under /openapi is answered by it (inject), its status, headers and bytes passed on. The
 * server's own hooks (compression, CORS, request lines) run around it as they ran around the plugin.
 */
export function registerOpenApiPage(app: FastifyInstance, routePrefix: string): void {
  let page: Promise<FastifyInstance> | null = null;
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    page ??= buildPage(app, routePrefix).catch((error: unknown) => {
      page = null;
      throw error;
    });
    const answer = await (
      await page
    ).inject({
      method: 'GET',
      url: request.url,
      headers: request.headers,
    });
    // A file missing under static/: the server's own not-found answer, as when the plugin served it.
    if (answer.statusCode === 404) return reply.callNotFound();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (!HOP_HEADERS.has(name) && value !== undefined) void reply.header(name, value);
    }
    // An empty answer (a redirect) stays without a body or a type, as the plugin sent it.
    return reply.code(answer.statusCode).send(answer.rawPayload.length > 0 ? answer.rawPayload : undefined);
  };
  app.addHook('onClose', async () => {
    const built = await page?.catch(() => null);
    await built?.close();
  });
  // The paths @fastify/swagger-ui 6 serves, no others: the rest of /openapi/... stays the data API's (a
  // collection named openapi). GET only: Fastify answers HEAD from it, as it did for the plugin's routes.
  for (const path of ['', '/', '/json', '/yaml', '/static/*'])
    app.get(`${routePrefix}${path}`, { schema: { hide: true } }, handler);
}

async function buildPage(app: FastifyInstance, routePrefix: string): Promise<FastifyInstance> {
  const { default: swaggerUi } = await import('@fastify/swagger-ui');
  const page = Fastify();
  // An OpenAPI 3.1 document, which the plugin serves as it is; its types name 2.0 and 3.0 only.
  const document = app.swagger() as unknown as StaticDocumentSpec['document'];
  await page.register(swagger, { mode: 'static', specification: { document } });
  await page.register(swaggerUi, { routePrefix, staticCSP: true, uiConfig: { deepLinking: true } });
  await page.ready();
  return page;
}
