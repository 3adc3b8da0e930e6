import type { PkceFlows } from './flow-states.js';
import { unvouchedIdentities } from './identities.js';
import type { Store } from './ports/store.js';

/**
 * Where addresses are confirmed without proof, what an account's earlier holder kept once its owner
 * proved `address` (a recovery, a verified provider's join): every provider identity that does not
 * vouch for the address (unvouchedIdentities) goes, then every session and every PKCE flow but
 * `keptFlowId` (a code one of them had been issued exchanged for a session after the proof).
 * `addressIdentityFirst`: the address's own identity is written before the unlinks, so that an
 * account with no other identity keeps one (its last could not go).
 */
export async function evictUnvouchedIdentities(
  deps: {
    store: Pick<Store, 'listIdentities' | 'unlinkIdentity' | 'updateUser' | 'revokeUserSessions'>;
    pkce: Pick<PkceFlows, 'endFlowsOf'>;
  },
  userId: string,
  address: string,
  now: Date,
  options: { keptFlowId: string | null; addressIdentityFirst: boolean },
): Promise<void> {
  const { store } = deps;
  const unvouched = unvouchedIdentities(await store.listIdentities(userId), address);
  if (unvouched.length === 0) return;
  if (options.addressIdentityFirst) await store.updateUser(userId, { email: address });
  for (const identity of unvouched) await store.unlinkIdentity(userId, identity.id);
  await store.revokeUserSessions(userId, null, 'address_confirmed_by_another', now);
  await deps.pkce.endFlowsOf(userId, options.keptFlowId);
}
