import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MfaFactor } from '../../../core/ports/store.js';
import { onAdminUserId } from './admin-user-id.js';
import { requireAdmin, type GotrueOptions } from './context.js';
import { clientOf } from '../../client.js';

/**
 * GoTrue's admin routes of a user's MFA factors, over GoTrue's own table (auth.mfa_factors, which an
 * adopted GoTrue database fills; restauth enrolls none, and the file store has none). Listing and
 * deleting are what an operator needs: a user with a verified factor gets no session from restauth
 * (403 insufficient_aal) until the factor is deleted. Changing one (PUT) stays refused.
 */
const UserParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const FactorParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  factorId: Type.String({ minLength: 1, maxLength: 200 }),
});

/** A factor as GoTrue's models.Factor marshals it: no secret, friendly_name left out when empty. */
function factorJson(factor: MfaFactor): Record<string, unknown> {
  return {
    id: factor.id,
    created_at: factor.createdAt.toISOString(),
    updated_at: factor.updatedAt.toISOString(),
    status: factor.status,
    ...(factor.friendlyName ? { friendly_name: factor.friendlyName } : {}),
    factor_type: factor.factorType,
    phone: factor.phone ?? '',
    last_challenged_at: factor.lastChallengedAt?.toISOString() ?? null,
  };
}

export const adminFactorRoutes: FastifyPluginAsyncTypebox<GotrueOptions> = async (app, options) => {
  const { admin } = options;
  // Before validation, as the other admin routes: a caller without the role learns nothing.
  app.addHook('onRequest', async (request) => requireAdmin(options, request));

  app.get('/admin/users/:id/factors', { schema: { params: UserParams } }, async (request) => {
    const { id } = request.params;
    return (await onAdminUserId(id, () => admin.listFactors(id))).map(factorJson);
  });

  app.delete('/admin/users/:id/factors/:factorId', { schema: { params: FactorParams } }, async (request) => {
    const { id, factorId } = request.params;
    return factorJson(await onAdminUserId(id, () => admin.deleteFactor(clientOf(request), id, factorId)));
  });
};
