import { createHash } from 'node:crypto';
import { providersOf, withProviders } from '../../core/identities.js';
import type { Identity } from '../../core/ports/store.js';
import type { CredentialChanges } from './credentials-journal.js';
import type { AccountRecord, CredentialsDocument, IdentityRecord } from './records.js';

/**
 * The file store's identities (GoTrue's auth.identities): entries of
 * credentials.json's `identities` map, keyed by identity id, journaled as any
 * other entry. The `email` identity follows the account's address, as the
 * PostgreSQL store keeps it (provider_id the user's id; identity_data's sub,
 * email, email_verified, phone_verified).
 *
 * Files written before identities need no conversion: when the index is
 * built, an account with an address and no identity at all gets its `email`
 * identity in memory, made from the account with an id derived from the user's id. It is
 * the same identity at every open until a write stores it (the next
 * compaction, or a change of the address), so its id never changes.
 */

const EMAIL = 'email';
/** The namespace of the derived ids (a UUIDv5-style name-based id: SHA-1 of namespace and user id). */
const EMAIL_IDENTITY_NAMESPACE = Buffer.from('9d7a3c1e5b2f4e8a8c6d0f1a2b3c4d5e', 'hex');

/** The id of a user's `email` identity in the file store: derived from the user id, so stable before it is stored. */
export function emailIdentityId(userId: string): string {
  const hash = createHash('sha1').update(EMAIL_IDENTITY_NAMESPACE).update(userId, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function key(provider: string, providerId: string): string {
  // NUL is in no provider name: the pair is one string without ambiguity.
  return `${provider}\u0000${providerId}`;
}

/**
 * Which identity holds each (provider, providerId) and which identities each
 * user has, so a GET /user or a link reads a user's few entries instead of
 * scanning them all. Built at first use (deriving missing email identities),
 * kept up to date by the writes below, dropped when the documents are reloaded.
 */
export class IdentityIndex {
  private byKey: Map<string, string> | null = null;
  private byUser: Map<string, Set<string>> | null = null;

  constructor(private readonly credentials: () => CredentialsDocument) {}

  reset(): void {
    this.byKey = null;
    this.byUser = null;
  }

  /** The id of the identity (provider, providerId), or undefined. */
  holder(provider: string, providerId: string): string | undefined {
    return this.build().byKey.get(key(provider, providerId));
  }

  identitiesOf(userId: string): string[] {
    return [...(this.build().byUser.get(userId) ?? [])];
  }

  add(id: string, record: IdentityRecord): void {
    if (!this.byKey || !this.byUser) return;
    this.byKey.set(key(record.provider, record.providerId), id);
    let ids = this.byUser.get(record.userId);
    if (!ids) this.byUser.set(record.userId, (ids = new Set()));
    ids.add(id);
  }

  remove(id: string, record: IdentityRecord): void {
    if (this.byKey?.get(key(record.provider, record.providerId)) === id)
      this.byKey.delete(key(record.provider, record.providerId));
    this.byUser?.get(record.userId)?.delete(id);
  }

  private build(): { byKey: Map<string, string>; byUser: Map<string, Set<string>> } {
    if (this.byKey && this.byUser) return { byKey: this.byKey, byUser: this.byUser };
    const credentials = this.credentials();
    this.byKey = new Map();
    this.byUser = new Map();
    for (const [id, record] of Object.entries(credentials.identities)) this.add(id, record);
    for (const [userId, account] of Object.entries(credentials.accounts)) {
      // Only an account with no identity at all is from before identities: one a provider signed up
      // has its provider's identity and, as GoTrue's, no `email` one.
      if (account.email === null || this.byUser.has(userId)) continue;
      const id = emailIdentityId(userId);
      const record = emailIdentityRecord(userId, account, null);
      // Not journaled: it is derived again, identical, until a write stores it (see above).
      // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
      credentials.identities[id] = record;
      this.add(id, record);
    }
    return { byKey: this.byKey, byUser: this.byUser };
  }
}

/** credentials.json inside a transaction, as the identity writes need it. */
export interface IdentitiesWrite {
  credentials: CredentialsDocument;
  changes: CredentialChanges;
  identities: IdentityIndex;
}

/** GoTrue's identity_data of an address's `email` identity. */
function emailIdentityData(userId: string, account: AccountRecord): Record<string, unknown> {
  return {
    sub: userId,
    email: account.email,
    email_verified: account.emailConfirmedAt !== null,
    phone_verified: false,
  };
}

function emailIdentityRecord(
  userId: string,
  account: AccountRecord,
  earlier: IdentityRecord | null,
): IdentityRecord {
  return {
    userId,
    provider: EMAIL,
    providerId: userId,
    // Merged as PostgreSQL merges it: keys another writer added stay.
    identityData: { ...(earlier?.identityData ?? {}), ...emailIdentityData(userId, account) },
    lastSignInAt: earlier?.lastSignInAt ?? null,
    createdAt: earlier?.createdAt ?? account.createdAt,
    updatedAt: account.updatedAt,
  };
}

export function putIdentity(write: IdentitiesWrite, id: string, record: IdentityRecord): void {
  const earlier = write.credentials.identities[id];
  if (earlier) write.identities.remove(id, earlier);
  // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
  write.credentials.identities[id] = record;
  write.changes.wrote('identities', id);
  write.identities.add(id, record);
}

export function removeIdentity(write: IdentitiesWrite, id: string): void {
  const record = write.credentials.identities[id];
  if (!record) return;
  delete write.credentials.identities[id];
  write.changes.wrote('identities', id);
  write.identities.remove(id, record);
}

/** The user's `email` identity after its account's address changed: written, updated, or gone with the address. */
export function syncEmailIdentity(write: IdentitiesWrite, userId: string, account: AccountRecord): void {
  const id = write.identities.holder(EMAIL, userId);
  if (account.email === null) {
    if (id !== undefined) removeIdentity(write, id);
    return;
  }
  const earlier = id === undefined ? null : write.credentials.identities[id]!;
  putIdentity(write, id ?? emailIdentityId(userId), emailIdentityRecord(userId, account, earlier));
}

/** The user's `email` identity after its address's confirmation changed: updated if it has one, never created. */
export function updateEmailIdentity(write: IdentitiesWrite, userId: string, account: AccountRecord): void {
  const id = write.identities.holder(EMAIL, userId);
  if (id === undefined || account.email === null) return;
  putIdentity(write, id, emailIdentityRecord(userId, account, write.credentials.identities[id]!));
}

/**
 * The account's app_metadata `provider` and `providers` after its identities changed (a link, an unlink,
 * its address's identity written or removed), as GoTrue's UpdateAppMetaDataProviders: in the same
 * transaction as the identities, so they never disagree on disk.
 */
export function syncProviders(write: IdentitiesWrite, userId: string): void {
  const account = write.credentials.accounts[userId];
  if (!account) return;
  const identities = write.identities
    .identitiesOf(userId)
    .map((id) => ({ id, record: write.credentials.identities[id]! }))
    // Oldest first, as listIdentities orders them.
    .sort((a, b) => createdAt(a.record) - createdAt(b.record) || a.id.localeCompare(b.id))
    .map(({ record }) => record);
  account.appMetadata = withProviders(account.appMetadata, providersOf(identities));
  write.changes.wrote('accounts', userId);
}

function createdAt(record: IdentityRecord): number {
  return new Date(record.createdAt).getTime();
}

/** Every identity of a user (its removal). */
export function removeUserIdentities(write: IdentitiesWrite, userId: string): void {
  for (const id of write.identities.identitiesOf(userId)) removeIdentity(write, id);
}

export function toIdentity(id: string, record: IdentityRecord): Identity {
  const email = record.identityData['email'];
  return {
    id,
    userId: record.userId,
    provider: record.provider,
    providerId: record.providerId,
    // A copy: the caller must not edit the stored record.
    identityData: structuredClone(record.identityData),
    email: typeof email === 'string' ? email.toLowerCase() : null,
    lastSignInAt: record.lastSignInAt === null ? null : new Date(record.lastSignInAt),
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(record.updatedAt),
  };
}
