import type { PkceFlows } from './flow-states.js';
import { unvouchedIdentities } from './identities.js';
import { replacePassword } from './password-replacement.js';
import type { PasswordHasher } from './passwords.js';
import type { Store } from './ports/store.js';
import { randomSecret } from './secrets.js';

export interface UnprovenHoldDeps {
  store: Pick<
    Store,
    | 'getPasswordHash'
    | 'changePassword'
    | 'listIdentities'
    | 'unlinkIdentity'
    | 'updateUser'
    | 'revokeUserSessions'
  >;
  pkce: Pick<PkceFlows, 'endFlowsOf'>;
  hasher: Pick<PasswordHasher, 'hash'>;
}

export interface UnprovenHoldOptions {
  /** The proof's own PKCE flow (a mailed link's), whose code the prover gets; null: none is kept. */
  keptFlowId: string | null;
  /**
   * `retire`: a password the holder set is replaced by one nobody knows. `replaced`: the proof's own
   * request has just replaced it unconditionally (a recovery's new password), which ended the
   * sessions and flows of that moment in its write.
   */
  password: 'retire' | 'replaced';
  /**
   * `unvouched`: every provider identity that does not vouch for the address goes here
   * (unvouchedIdentities). `kept`: the caller deals with identities itself (an unconfirmed account
   * keeps none of its holder's, removed by keepOnlyIdentity once the owner's own is in place).
   */
  identities: 'unvouched' | 'kept';
  /**
   * The address's own identity is written before the unlinks, so that an account with no other
   * identity keeps one (its last could not go).
   */
  addressIdentityFirst: boolean;
}

/**
 * The one rule for an address proven into an account whose holder may not be its owner: an address
 * taken without proof (where addresses confirm at once, a confirmed account proves nothing: whoever
 * typed the address first has it), an unconfirmed account, an account's first address asked by its
 * holder and proven by whoever followed the mail. The prover (a mailed link's follower, a recovery,
 * a provider that verified the address and joins the account) now uses the account; everything its
 * earlier holder set up before the proof ends, whether or not there was a password or an identity:
 *
 * - every session (the prover's opens after this call, from the proof);
 * - a password (replaced by one nobody knows, unless the proof replaced it: `password`);
 * - every provider identity that does not vouch for `address` (`identities`);
 * - every PKCE flow but `keptFlowId` (a code issued to the holder exchanged after the proof).
 *
 * Before, a join or a recovery ended sessions only through a password's replacement or an
 * identity's removal: an anonymous squatter, with neither, kept its session in the owner's account.
 *
 * Sessions and flows end first, then the password: a password change the holder asked in a live
 * session is judged in its write (whileSessionLive), so none lands after the password is read here,
 * and a password sign-in racing the replacement is refused by its own proof (Store.openSignIn's
 * provenHash). They end again last: a session opened in between by an identity that goes here, or a
 * code exchanged in between, does not outlive the call.
 */
export async function endUnprovenHold(
  deps: UnprovenHoldDeps,
  userId: string,
  address: string,
  now: Date,
  options: UnprovenHoldOptions,
): Promise<void> {
  const { store } = deps;
  await endSessionsAndFlows(deps, userId, now, options.keptFlowId);
  if (options.password === 'retire' && (await store.getPasswordHash(userId)) !== null) {
    const unknown = await deps.hasher.hash(randomSecret());
    await replacePassword(deps, {
      userId,
      passwordHash: unknown,
      keepSessionId: null,
      now,
      keptFlowId: options.keptFlowId,
    });
  }
  if (options.identities === 'unvouched') {
    const unvouched = unvouchedIdentities(await store.listIdentities(userId), address);
    if (unvouched.length > 0 && options.addressIdentityFirst)
      await store.updateUser(userId, { email: address });
    for (const identity of unvouched) await store.unlinkIdentity(userId, identity.id);
  }
  await endSessionsAndFlows(deps, userId, now, options.keptFlowId);
}

async function endSessionsAndFlows(
  deps: UnprovenHoldDeps,
  userId: string,
  now: Date,
  keptFlowId: string | null,
): Promise<void> {
  await deps.pkce.endFlowsOf(userId, keptFlowId);
  await deps.store.revokeUserSessions(userId, null, 'address_confirmed_by_another', now);
}
