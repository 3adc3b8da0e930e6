import compress, { type FastifyCompressOptions } from '@fastify/compress';
import type { FastifyInstance, RouteOptions } from 'fastify';

/** json-server's compression(): an answer from 1 KB on is compressed (the data API, the OpenAPI document). */
const ANSWER_THRESHOLD = 1024;

/**
 * An auth answer is compressed from here on: TCP's initial window (10 segments, RFC 6928) carries
 * about 14 KB, so a smaller answer reaches its client in the same round trip compressed or not, and
 * gzip only costs the server. A session answer (1.5–2 KB: tokens, the user, its identities) took
 * over a fifth of the server's CPU per refresh in gzip's set-up (its 256 KB of state per answer)
 * and the garbage it left. GoTrue, whose answers these are, never compressed them.
 */
const AUTH_ANSWER_THRESHOLD = 14 * 1024;

/** Marks a scope whose answers are an auth dialect's (see plainAuthAnswers). */
const AUTH_ANSWERS = Symbol('restauth.authAnswers');

/**
 * @fastify/compress's settings: gzip and deflate (not brotli, which costs more CPU per answer),
 * from `threshold` bytes on. A route given its own settings gets these whole: the plugin fills
 * every setting a route leaves out with its default (brotli too), not with the app's.
 */
function settings(threshold: number): FastifyCompressOptions {
  return { encodings: ['gzip', 'deflate'], threshold };
}

/**
 * Compressed answers when the client accepts them, as json-server's compression(); the routes of a
 * scope given to plainAuthAnswers only from AUTH_ANSWER_THRESHOLD on. Call before any route or
 * scope is registered: a route's settings are chosen as it is added.
 */
export async function useCompression(app: FastifyInstance): Promise<void> {
  // Registered before the plugin's own onRoute hook, so the plugin reads the settings chosen here.
  app.addHook('onRoute', function (this: FastifyInstance, route: RouteOptions) {
    if (route.compress === undefined && this.hasDecorator(AUTH_ANSWERS))
      route.compress = settings(AUTH_ANSWER_THRESHOLD);
  });
  await app.register(compress, settings(ANSWER_THRESHOLD));
}

/** The routes of `scope` (and of the scopes it holds) answer with tokens and accounts: see AUTH_ANSWER_THRESHOLD. */
export function plainAuthAnswers(scope: FastifyInstance): void {
  scope.decorate(AUTH_ANSWERS, true);
}
