import type { AuditLog, Client } from './audit.js';
import { AuthError } from './errors.js';
import { loginKey } from './identity.js';
import type { Identity, Store } from './ports/store.js';

/**
 * A user's identities (GoTrue's auth.identities: the `email` identity of an
 * address, one per external provider), as the user's own record and the admin
 * API list them, and as the user unlinks them.
 */
export class Identities {
  constructor(
    private readonly store: Pick<Store, 'listIdentities' | 'listIdentitiesOfUsers' | 'unlinkIdentity'>,
    private readonly audit: Pick<AuditLog, 'record'>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * The identities of the user with this id, oldest first. A user that was never stored (the
   * look-alike answer to a sign-up of a taken address) has none: `identities: []` is how GoTrue's
   * clients tell "already registered" from a new account, and it is what GoTrue answers too.
   */
  of(userId: string): Promise<Identity[]> {
    return this.store.listIdentities(userId);
  }

  /** The identities of each of these users, in one store lookup (a page of users, as the admin API lists it). */
  ofUsers(userIds: readonly string[]): Promise<Map<string, Identity[]>> {
    return this.store.listIdentitiesOfUsers(userIds);
  }

  /**
   * Removes one of the user's own identities (GoTrue's DELETE /user/identities/{id}). Checked in
   * GoTrue's order (a single identity first, then whether the id is the user's), then removed by the
   * store, which checks again atomically: two unlinks racing for a user's last two identities
   * leave one. Asked in the session `sessionId`, removed only while it is live, judged in the store's
   * write (session_not_found): a sign-out committed after the token was checked stops it.
   */
  async unlink(client: Client, userId: string, identityId: string, sessionId: string): Promise<Identity> {
    const owned = await this.store.listIdentities(userId);
    if (owned.length <= 1) throw new AuthError('single_identity_not_deletable');
    const identity = owned.find((candidate) => candidate.id === identityId);
    if (identity === undefined) throw new AuthError('identity_not_found');
    await this.store.unlinkIdentity(userId, identityId, {
      whileSessionLive: { sessionId, at: this.clock() },
    });
    await this.audit.record('identity_unlinked', client, {
      userId,
      data: { identity_id: identity.id, provider: identity.provider, provider_id: identity.providerId },
    });
    return identity;
  }
}

/**
 * The provider identities among `identities` that do not vouch for `address` (an account's address,
 * in its login-key form): all but those whose provider, at their latest sign-in, gave this very
 * address verified. Where addresses are confirmed without proof, whoever held the account before its
 * mailbox was proven may have put any of them there: one that claimed the address unverified, the
 * same after its holder changed the address at the provider (its data says another address now), or
 * the holder's own provider account linked with linkIdentity (another address, or none). Each would
 * sign that holder in to the owner's account, so all go once someone proves the mailbox. An owner
 * who linked such a provider themselves links it again.
 */
export function unvouchedIdentities(identities: readonly Identity[], address: string): Identity[] {
  return identities.filter((identity) => {
    if (identity.provider === 'email') return false;
    const email = identity.identityData['email'];
    const vouches =
      identity.identityData['email_verified'] === true &&
      typeof email === 'string' &&
      loginKey(email) === address;
    return !vouches;
  });
}

/**
 * GoTrue's list of a user's providers (models.FindProvidersByUser): the providers of its identities,
 * oldest identity first, each once. `identities` must be oldest first, as Store.listIdentities gives them.
 */
export function providersOf(identities: readonly Pick<Identity, 'provider'>[]): string[] {
  return [...new Set(identities.map((identity) => identity.provider))];
}

/**
 * app_metadata with its `providers` (and `provider`, the first of them) set, as GoTrue's
 * UpdateAppMetaDataProviders writes them into raw_app_meta_data: at sign-up (the provider signed up
 * with) and at every link and unlink. Stored, not derived when answering: the access token, made at
 * every refresh, carries them without reading identities. With no provider `provider` is left as it
 * was, as GoTrue's.
 */
export function withProviders(
  appMetadata: Record<string, unknown>,
  providers: readonly string[],
): Record<string, unknown> {
  return {
    ...appMetadata,
    ...(providers.length > 0 ? { provider: providers[0] } : {}),
    providers: [...providers],
  };
}
