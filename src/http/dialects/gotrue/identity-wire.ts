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
 * app_metadata's `provider` and `providers`, as GoTrue sets them: the providers
 * of the user's identities, first linked first; an anonymous user's is
 * `anonymous`. A user with no identity (a user name only) shows `email`, the
 * provider its password signs in with. What is stored in app_metadata comes
 * after, so a database GoTrue wrote keeps its own values.
 */
export function appMetadataJson(user: User, identities: readonly Identity[] | null) {
  const linked = [...new Set((identities ?? []).map((identity) => identity.provider))];
  const providers = linked.length > 0 ? linked : [user.isAnonymous ? 'anonymous' : 'email'];
  return { provider: providers[0], providers, ...user.appMetadata };
}
