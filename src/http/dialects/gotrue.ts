import type { FastifyPluginAsync } from 'fastify';
import { AuthError } from '../../core/errors.js';
import { useErrorReply } from '../errors.js';
import { firstQueryValues } from '../first-query-values.js';
import { documentRoutes } from '../route-docs.js';
import { parseJsonBodies } from '../json-body.js';
import { adminRoutes } from './gotrue/admin-routes.js';
import { adminFactorRoutes } from './gotrue/admin-factor-routes.js';
import type { GotrueOptions } from './gotrue/context.js';
import { emailRoutes } from './gotrue/email-routes.js';
import { identityRoutes } from './gotrue/identity-routes.js';
import { metaRoutes } from './gotrue/meta-routes.js';
import { oauthRoutes } from './gotrue/oauth-routes.js';
import { gotrueResponses } from './gotrue/responses.js';
import { sessionRoutes } from './gotrue/session-routes.js';
import { disabledFeatureRoutes, refuseDisabledInputs } from './gotrue/disabled-features.js';
import { gotrueErrorFormat } from './gotrue/errors.js';

export type { GotrueOptions } from './gotrue/context.js';

/**
 * The Supabase Auth (GoTrue) API under its mount path (default /auth/v1),
 * so @supabase/auth-js and supabase-js work against restauth unchanged.
 * Its errors are GoTrue's: `{code, error_code, msg}` with GoTrue's statuses.
 */
export const gotrueDialect: FastifyPluginAsync<GotrueOptions> = async (app, options) => {
  await app.register(
    async (scope) => {
      documentRoutes(scope, 'Supabase Auth (GoTrue)', gotrueResponses, options.settings.mountPath);
      useErrorReply(scope, gotrueErrorFormat(options.settings.mountPath));
      // auth-js sends `Content-Type: application/json` with no body on logout and deletes: GoTrue reads
      // that as no body. Depth is bounded and prototype poisoning refused as for every dialect.
      parseJsonBodies(scope, () => undefined);
      // A query parameter given twice is its first value, as GoTrue reads it; before the body is
      // parsed, so an error answer reading the query (the token route's grant_type) sees it so too.
      scope.addHook('onRequest', async (request) => firstQueryValues(request));
      scope.addHook('preValidation', async (request) =>
        refuseDisabledInputs(request, options.settings.mountPath),
      );
      await scope.register(metaRoutes, options);
      await scope.register(sessionRoutes, options);
      await scope.register(emailRoutes, options);
      await scope.register(identityRoutes, options);
      await scope.register(oauthRoutes, options);
      if (options.settings.adminApi) {
        await scope.register(adminRoutes, options);
        await scope.register(adminFactorRoutes, options);
      }
      await scope.register(disabledFeatureRoutes, options);
      // Unknown routes under the mount path answer in GoTrue's error shape. A route, not a not-found
      // handler: the data API's catch-all would take these paths first and answer in its own words.
      scope.route({
        method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
        url: '/*',
        schema: { hide: true },
        handler: async (request) => {
          throw new AuthError(
            'not_found',
            `No route for ${request.method} ${request.url.split('?')[0] ?? ''}`,
          );
        },
      });
    },
    { prefix: options.settings.mountPath },
  );
};
