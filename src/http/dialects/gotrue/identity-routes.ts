import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AuthError } from '../../../core/errors.js';
import { requireUser, type GotrueOptions } from './context.js';
import { AuthorizeQuery, bindToBrowser, continueAddress, startProviderFlow } from './oauth-routes.js';
import { clientOf } from '../../client.js';

/**
 * Manual linking (GoTrue's /user/identities routes, behind its
 * security.manual_linking_enabled, here `identities.manualLinking`): the
 * signed-in user links an OAuth identity (auth-js linkIdentity) or unlinks one
 * (unlinkIdentity). The caller is checked first, then the setting, as GoTrue's
 * middleware orders them: without a token the answer is 401 either way.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

// /authorize's query and its bounds (the extra parameters go on to the provider alike), and
// skip_http_redirect: a twin with looser bounds stored longer referrers and any number of parameters.
const LinkQuery = Type.Object(
  { ...AuthorizeQuery.properties, skip_http_redirect: Type.Optional(Type.String({ maxLength: 10 })) },
  { additionalProperties: Type.String({ maxLength: 2000 }), maxProperties: 31 },
);
const IdentityParams = Type.Object({ id: Type.String({ maxLength: 200 }) });

export const identityRoutes: FastifyPluginAsyncTypebox<GotrueOptions> = async (app, options) => {
  const { auth, identities, settings, limit } = options;

  // auth-js's linkIdentity asks for the address (skip_http_redirect=true) and goes there itself.
  // Each request stores a flow until its callback or the upkeep: counted as /authorize counts it.
  const linkOptions = { schema: { querystring: LinkQuery }, preHandler: limit('signIn') };
  app.get('/user/identities/authorize', linkOptions, async (request, reply) => {
    const { user, session } = await requireUser(auth, request);
    if (!settings.manualLinking) throw new AuthError('manual_linking_disabled');
    const { skip_http_redirect: skipRedirect, ...query } = request.query;
    const started = await startProviderFlow(options, query, { userId: user.id, sessionId: session.id });
    // The JSON's address is followed by a browser that may not be this request's (auth-js fetched it).
    if (skipRedirect === 'true') return { url: continueAddress(options, started) };
    bindToBrowser(options, reply, started);
    return reply.redirect(started.url, 302);
  });

  app.delete('/user/identities/:id', { schema: { params: IdentityParams } }, async (request) => {
    const { user, session } = await requireUser(auth, request);
    if (!settings.manualLinking) throw new AuthError('manual_linking_disabled');
    if (!UUID.test(request.params.id)) {
      throw new AuthError('validation_failed', 'identity_id must be an UUID', { status: 404 });
    }
    await identities.unlink(clientOf(request), user.id, request.params.id.toLowerCase(), session.id);
    return {};
  });
};
