import type { Identity, Store } from './ports/store.js';

/**
 * A user's identities (GoTrue's auth.identities: the `email` identity of an
 * address, one per external provider), as the user's own record and the admin
 * API list them.
 */
export class Identities {
  constructor(private readonly store: Pick<Store, 'listIdentities'>) {}

  /**
   * The identities of the user with this id, oldest first. A user that was never stored (the
   * look-alike answer to a sign-up of a taken address) has none: `identities: []` is how GoTrue's
   * clients tell "already registered" from a new account, and it is what GoTrue answers too.
   */
  of(userId: string): Promise<Identity[]> {
    return this.store.listIdentities(userId);
  }
}
