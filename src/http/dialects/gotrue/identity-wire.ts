import type { Identity, User } from '../../../core/ports/store.js';

/**
 * GoTrue's identity object, as its models.Identity marshals it: the identity's
 * own id is `identity_id`, `id` is the provider's id of the user; an unset
 * last sign-in or email is left out (omitempty).
 */
export function identityJson(identity: Identity) {
  return {
    identity_id: identity.id,
    id: identity.providerId,
    user_id: identity.userId,
    identity_data: identity.identityData,
    provider: identity.provider,
    ...(identity.lastSignInAt ? { last_sign_in_at: identity.lastSignInAt.toISOString() } : {}),
    created_at: identity.createdAt.toISOString(),
    updated_at: identity.updatedAt.toISOString(),
    ...(identity.email !== null ? { email: identity.email } : {}),
  };
}

/**
 * app_metadata as GoTrue answers it: the user's raw_app_meta_data as stored, `provider` and
 * `providers` included (core/identities.ts withProviders: set at sign-up and at every link, unlink
 * and address change), so GET /user, the session answers and the access token, made without
 * reading identities, say the same. A user stored without them (by an older instance during a
 * rolling upgrade) shows `email`, as the stores' backfills give it; an anonymous one none, as GoTrue's.
 */
export function appMetadataJson(user: User): Record<string, unknown> {
  if (user.isAnonymous || Object.hasOwn(user.appMetadata, 'providers')) return user.appMetadata;
  return { provider: 'email', providers: ['email'], ...user.appMetadata };
}
