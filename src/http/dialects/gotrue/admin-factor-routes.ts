import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { onAdminUserId } from './admin-user-id.js';
import { requireAdmin, type GotrueOptions } from './context.js';
import { factorJson } from './wire.js';
import { clientOf } from '../../client.js';

/**
 * GoTrue's admin routes of a user's MFA factors, over GoTrue's own table (auth.mfa_factors, which an
 * adopted GoTrue database fills; restauth enrolls none, and the file store has none). Listing and
 * deleting are what an operator needs: a user with a verified factor gets no session from restauth
 * (403 insufficient_aal) until the factor is deleted. Changing one (PUT) renames it, as GoTrue's.
 */
const UserParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const FactorParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  factorId: Type.String({ minLength: 1, maxLength: 200 }),
});
/** GoTrue's adminUserUpdateFactorParams: what is empty or absent is kept. */
const FactorChange = Type.Object({
  friendly_name: Type.Optional(Type.String({ maxLength: 256 })),
  phone: Type.Optional(Type.String({ maxLength: 64 })),
});

export const adminFactorRoutes: FastifyPluginAsyncTypebox<GotrueOptions> = async (app, options) => {
  const { admin } = options;
  // Before validation, as the other admin routes: a caller without the role learns nothing.
  app.addHook('onRequest', async (request) => requireAdmin(options, request));

  app.get('/admin/users/:id/factors', { schema: { params: UserParams } }, async (request) => {
    const { id } = request.params;
    return (await onAdminUserId(id, () => admin.listFactors(id))).map(factorJson);
  });

  app.put(
    '/admin/users/:id/factors/:factorId',
    { schema: { params: FactorParams, body: FactorChange } },
    async (request) => {
      const { id, factorId } = request.params;
      const change = { friendlyName: request.body.friendly_name, phone: request.body.phone };
      return factorJson(
        await onAdminUserId(id, () => admin.updateFactor(clientOf(request), id, factorId, change)),
      );
    },
  );

  app.delete('/admin/users/:id/factors/:factorId', { schema: { params: FactorParams } }, async (request) => {
    const { id, factorId } = request.params;
    return factorJson(await onAdminUserId(id, () => admin.deleteFactor(clientOf(request), id, factorId)));
  });
};
