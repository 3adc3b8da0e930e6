import type {
  FlowSpendConditions,
  FlowState,
  FlowStateStore,
  NewFlowState,
  OAuthFlow,
} from '../../core/ports/flow-states.js';
import type { FileDatabase, JsonDocument } from './file-database.js';
import { refuseBanned } from './stored-bans.js';
import {
  normalizeCredentials,
  spentIdTokensOf,
  type CredentialsDocument,
  type FlowStateEntry,
  type OAuthFlowEntry,
  type SpentIdTokenEntry,
} from './records.js';

/**
 * PKCE flow states in credentials.json's `flowStates` map, written through
 * its journal: each change is one transaction of the serialized write queue
 * (so of racing exchanges one consumes) and reports the entry it changed.
 * Lookups scan the map: it holds only the flows of the last link lifetime
 * (the upkeep prunes the rest), a few per sign-up or mailed link.
 */
export class FileFlowStates implements FlowStateStore {
  constructor(private readonly db: FileDatabase) {}

  async createFlowState(flow: NewFlowState): Promise<void> {
    await this.db.transactCredentials((stored, changes) => {
      // eslint-disable-next-line no-restricted-syntax -- a null-prototype map; the id is a server-made uuid
      normalizeCredentials(stored).flowStates[flow.id] = {
        userId: flow.userId,
        authCodeHash: flow.authCodeHash ?? null,
        codeChallenge: flow.codeChallenge,
        codeChallengeMethod: flow.codeChallengeMethod,
        authenticationMethod: flow.authenticationMethod,
        providerType: flow.providerType,
        createdAt: flow.createdAt.toISOString(),
        authCodeIssuedAt: flow.authCodeIssuedAt?.toISOString() ?? null,
        // Written only when there are some: the mailed links' flows keep their shape.
        ...(flow.providerAccessToken != null ? { providerAccessToken: flow.providerAccessToken } : {}),
        ...(flow.providerRefreshToken != null ? { providerRefreshToken: flow.providerRefreshToken } : {}),
        ...(flow.pendingLink != null ? { pendingLink: flow.pendingLink } : {}),
      };
      changes.wrote('flowStates', flow.id);
    });
  }

  async createOAuthFlow(flow: OAuthFlow): Promise<void> {
    await this.db.transactCredentials((stored, changes) => {
      // eslint-disable-next-line no-restricted-syntax -- a null-prototype map; the id is a server-made uuid
      normalizeCredentials(stored).oauthFlows[flow.id] = {
        providerType: flow.providerType,
        codeChallenge: flow.codeChallenge,
        codeChallengeMethod: flow.codeChallengeMethod,
        referrer: flow.referrer,
        linkingTargetId: flow.linkingTargetId,
        linkingSessionId: flow.linkingSessionId,
        createdAt: flow.createdAt.toISOString(),
      };
      changes.wrote('oauthFlows', flow.id);
    });
  }

  async takeOAuthFlow(id: string): Promise<OAuthFlow | null> {
    return this.db.transactCredentials((stored, changes) => {
      const flows = normalizeCredentials(stored).oauthFlows;
      if (!Object.hasOwn(flows, id)) return null;
      const entry = flows[id]!;
      delete flows[id];
      changes.wrote('oauthFlows', id);
      return {
        id,
        ...entry,
        linkingSessionId: entry.linkingSessionId ?? null,
        createdAt: new Date(entry.createdAt),
      };
    });
  }

  async issueFlowAuthCode(
    id: string,
    userId: string,
    authCodeHash: string,
    now: Date,
    createdAfter: Date,
  ): Promise<FlowState | null> {
    return this.db.transactCredentials((stored, changes) => {
      const flows = normalizeCredentials(stored).flowStates;
      if (!Object.hasOwn(flows, id)) return null;
      const entry = flows[id]!;
      if (entry.userId !== userId || Date.parse(entry.createdAt) <= createdAfter.getTime()) return null;
      entry.authCodeHash = authCodeHash;
      entry.authCodeIssuedAt = now.toISOString();
      changes.wrote('flowStates', id);
      return toFlowState(id, entry);
    });
  }

  async findFlowStateByAuthCode(authCodeHash: string): Promise<FlowState | null> {
    await this.db.settled(['credentials']);
    const flows = normalizeCredentials(this.db.credentials).flowStates;
    for (const [id, entry] of Object.entries(flows)) {
      if (entry.authCodeHash === authCodeHash) return toFlowState(id, entry);
    }
    return null;
  }

  async consumeFlowState(
    id: string,
    authCodeHash: string,
    conditions: FlowSpendConditions = {},
  ): Promise<boolean> {
    return this.db.transactCredentials((stored, changes) => {
      const flows = normalizeCredentials(stored).flowStates;
      if (!Object.hasOwn(flows, id) || flows[id]!.authCodeHash !== authCodeHash) return false;
      // Before anything changes: a throwing transaction is not undone.
      if (conditions.unlessBannedAt) refuseBanned(stored, flows[id]!.userId, conditions.unlessBannedAt);
      delete flows[id];
      changes.wrote('flowStates', id);
      return true;
    });
  }

  async endFlowStatesOf(userId: string, keptFlowId: string | null): Promise<number> {
    return this.db.transactCredentials((stored, changes) =>
      endUserFlows(stored, changes, userId, keptFlowId),
    );
  }

  async pruneFlowStates(cutoffs: { issuedBefore: Date; createdBefore: Date }): Promise<number> {
    const spent = (entry: FlowStateEntry) =>
      entry.authCodeIssuedAt !== null
        ? Date.parse(entry.authCodeIssuedAt) < cutoffs.issuedBefore.getTime()
        : Date.parse(entry.createdAt) < cutoffs.createdBefore.getTime();
    const abandoned = (entry: OAuthFlowEntry) =>
      Date.parse(entry.createdAt) < cutoffs.createdBefore.getTime();
    const current = normalizeCredentials(this.db.credentials);
    // Nothing to prune: no commit (the upkeep runs hourly on every store).
    if (
      !Object.values(current.flowStates).some(spent) &&
      !Object.values(current.oauthFlows).some(abandoned)
    ) {
      return 0;
    }
    return this.db.transactCredentials((stored, changes) => {
      const { flowStates, oauthFlows } = normalizeCredentials(stored);
      return (
        removeWhere(flowStates, spent, (id) => changes.wrote('flowStates', id)) +
        removeWhere(oauthFlows, abandoned, (id) => changes.wrote('oauthFlows', id))
      );
    });
  }

  async spendIdToken(hash: string, keepUntil: Date): Promise<boolean> {
    return this.db.transactCredentials((stored, changes) => {
      const spent = spentIdTokensOf(normalizeCredentials(stored), true);
      if (Object.hasOwn(spent, hash)) return false;
      // eslint-disable-next-line no-restricted-syntax -- a null-prototype map; the key is a server-made hash
      spent[hash] = { keepUntil: keepUntil.toISOString() };
      changes.wrote('spentIdTokens', hash);
      return true;
    });
  }

  async pruneSpentIdTokens(now: Date): Promise<number> {
    const expired = (entry: SpentIdTokenEntry) => Date.parse(entry.keepUntil) < now.getTime();
    // Nothing to prune: no commit (the upkeep runs hourly on every store).
    const current = spentIdTokensOf(normalizeCredentials(this.db.credentials), false);
    if (!Object.values(current).some(expired)) return 0;
    return this.db.transactCredentials((stored, changes) => {
      const spent = spentIdTokensOf(normalizeCredentials(stored), false);
      return removeWhere(spent, expired, (hash) => changes.wrote('spentIdTokens', hash));
    });
  }
}

/** Removes the entries of `map` that `matches`, telling `removed` each key; how many it removed. */
function removeWhere<Entry>(
  map: Record<string, Entry>,
  matches: (entry: Entry) => boolean,
  removed: (key: string) => void,
): number {
  return removeEntriesWhere(map, (_key, entry) => matches(entry), removed);
}

/**
 * Ends every flow of `userId` but `keptFlowId` in `stored`, inside the caller's credentials transaction
 * (endFlowStatesOf's, or a password change's: Store.changePassword). Returns how many went.
 */
export function endUserFlows(
  stored: JsonDocument,
  changes: { wrote(kind: 'flowStates', id: string): void },
  userId: string,
  keptFlowId: string | null,
): number {
  return removeEntriesWhere(
    normalizeCredentials(stored).flowStates,
    (id, entry) => entry.userId === userId && id !== keptFlowId,
    (id) => changes.wrote('flowStates', id),
  );
}

/**
 * Removes every flow that names `userId` from `credentials`, inside the caller's transaction (the
 * user's removal, or a sign-up over what an earlier user of the id left): its PKCE flows (a code
 * issued to one exchanges for `flow.userId`'s session) and the OAuth sign-ins waiting to link an
 * identity to it. A json-data-server user's id is its name: kept, they went to whoever registered
 * the name next.
 */
export function removeUserFlows(
  credentials: CredentialsDocument,
  changes: { wrote(kind: 'flowStates' | 'oauthFlows', id: string): void },
  userId: string,
): void {
  removeWhere(
    credentials.flowStates,
    (entry) => entry.userId === userId,
    (id) => changes.wrote('flowStates', id),
  );
  removeWhere(
    credentials.oauthFlows,
    (entry) => entry.linkingTargetId === userId,
    (id) => changes.wrote('oauthFlows', id),
  );
}

/** removeWhere, judging each entry with its key. */
function removeEntriesWhere<Entry>(
  map: Record<string, Entry>,
  matches: (key: string, entry: Entry) => boolean,
  removed: (key: string) => void,
): number {
  let count = 0;
  for (const [key, entry] of Object.entries(map)) {
    if (!matches(key, entry)) continue;
    delete map[key];
    removed(key);
    count++;
  }
  return count;
}

function toFlowState(id: string, entry: FlowStateEntry): FlowState {
  return {
    id,
    userId: entry.userId,
    authCodeHash: entry.authCodeHash,
    codeChallenge: entry.codeChallenge,
    codeChallengeMethod: entry.codeChallengeMethod,
    authenticationMethod: entry.authenticationMethod,
    providerType: entry.providerType,
    createdAt: new Date(entry.createdAt),
    authCodeIssuedAt: entry.authCodeIssuedAt === null ? null : new Date(entry.authCodeIssuedAt),
    providerAccessToken: entry.providerAccessToken ?? null,
    providerRefreshToken: entry.providerRefreshToken ?? null,
    pendingLink: entry.pendingLink ?? null,
  };
}
