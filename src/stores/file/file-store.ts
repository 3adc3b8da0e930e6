import { randomUUID } from 'node:crypto';
import { AuthError } from '../../core/errors.js';
import { providersOf, withProviders } from '../../core/identities.js';
import { copyJson } from '../../lib/copy-json.js';
import { STORAGE_RETRY_AFTER_S } from '../../lib/storage-failure.js';
import { loginKey } from '../../core/identity.js';
import {
  CodeHashInUseError,
  type AuditEvent,
  type CodeAttempt,
  type SignUpWrites,
  type TokenWrite,
  type AuditPage,
  type Identity,
  type NewIdentity,
  type NewSession,
  type NewUser,
  type MfaFactor,
  type OneTimeToken,
  type OneTimeTokenConditions,
  type SpendConditions,
  type FoundRefreshToken,
  type Session,
  type Store,
  type TokenStanding,
  type User,
  type UserPage,
  type UserPatch,
  UserDataChangedError,
  type LinkConditions,
  type PasswordChangeOptions,
  type UserUpdateConditions,
} from '../../core/ports/store.js';
import type { RecordChanges } from '../../core/ports/documents.js';
import type { OutgoingMail } from '../../core/ports/outbox.js';
import type { RateLimitCounter } from '../../core/ports/rate-limits.js';
import { passwordSetRecord } from '../../core/account-guess-limit.js';
import type { AuditFile } from './audit-file.js';
import type { StorageHealth } from './storage-health.js';
import {
  IdentityIndex,
  putIdentity,
  removeIdentity,
  removeUserIdentities,
  syncEmailIdentity,
  syncProviders,
  updateEmailIdentity,
  toIdentity,
  type IdentitiesWrite,
} from './credentials-identities.js';
import { dateText, epochMs } from './credentials-dates.js';
import { CredentialChanges } from './credentials-journal.js';
import {
  dropOldestSessions,
  forgetOldRotations,
  pruneEndedSessions,
  putRefreshToken,
  removeSessions,
  revokeSession,
  revokeUserSessions,
  SessionIndex,
  writeNewSession,
  type CredentialsWrite,
} from './credentials-sessions.js';
import type { Documents, FileDatabase, JsonDocument } from './file-database.js';
import type { FileMailQueue, MailHold } from './outbox.js';
import { NameSkeletons } from './name-skeletons.js';
import { ownsRecords } from './owned-records.js';
import { isBannedIn, refuseBanned } from './stored-bans.js';
import { endUserFlows, removeUserFlows } from './flow-states.js';
import {
  normalizeCredentials,
  userRecord,
  type AccountRecord,
  type CredentialsDocument,
  type OneTimeTokenEntry,
  type SessionRecord,
} from './records.js';

/** A user is its db.json record and its credentials.json entries: its reads wait for a commit of either. */
const BOTH_FILES = ['data', 'credentials'] as const;

type UserRecord = Record<string, unknown>;

/** A removal's journal order (FileDatabase.transactJournaled): db.json's line before credentials.json's. */
const RECORDS_FIRST = { recordsFirst: true } as const;

export interface FileStoreOptions {
  usersProp: string;
  userIdProp: string;
  /** The data API's owner property (data.ownerProp): an id a record names as its owner is taken. */
  ownerProp?: string;
  /**
   * The backend's mail queue, where a token's mails and the welcome mail are
   * written with what they belong to (see FileMailQueue.hold). Without one the
   * store refuses writes that carry mails.
   */
  outbox?: FileMailQueue;
  /** Whether the folders the store writes in can take a write now (Store.assertWritable); none: never asked. */
  storage?: StorageHealth;
  logger?: { warn(message: string): void };
  /**
   * The backend's rate-limit counters (in memory): a password change writes its passwordSetRecord
   * there, ending the known clients the guess limit finds there (Store.changePassword). None: nothing
   * is written (a store opened without the guess limit's counters).
   */
  rateLimits?: Pick<RateLimitCounter, 'renew'>;
}

type PasswordEntry = CredentialsDocument['passwords'][number];

/**
 * The lookup maps of the users, built from both files at first use and then
 * kept up to date by the store's own writes (a sign-up adds its user, an
 * edit moves its logins, a removal takes them out): rebuilding them costs a
 * pass over every user. Dropped when the documents are reloaded from disk
 * and when anything else changes the users collection (the data API, a
 * whole-document transaction).
 */
interface Indexes {
  byId: Map<string, UserRecord>;
  byUsername: Map<string, string>;
  /** User names by their skeletons: a look-alike of a name is taken as the name is. */
  bySkeleton: NameSkeletons;
  byEmail: Map<string, string>;
  /** Each user's entry of credentials.json's passwords array (the first, if a hand edit left several). */
  passwords: Map<string, PasswordEntry>;
  /** Users whose logins are the same after normalisation (hand edits, data from before it). */
  collisions: string[];
}

/**
 * The Store on JSON files: user profiles in db.json under `usersProp` (the
 * record's `userIdProp` is the user id), everything private in
 * credentials.json, and the audit log in its own append-only file beside it,
 * `credentials.audit.jsonl` for `credentials.json` (see audit-file.ts).
 * Every write to the two JSON files runs inside the FileDatabase's serialized
 * queue, so check-then-write steps (uniqueness, single use, rotation) are atomic.
 */
export class FileStore implements Store {
  private indexes: Indexes | null = null;
  /**
   * codeHash -> hash of the one-time tokens that have a code, so a typed code
   * is found without a scan. Built on first use, kept up to date by the token
   * writes, dropped when the files are reloaded or users' tokens are removed.
   * A hit is checked against the token itself, so a stale entry cannot match.
   */
  private codeHashes: Map<string, string> | null = null;
  /**
   * userId -> hashes of the user's one-time tokens, so a sign-up, a removal
   * or a new token finds a user's few tokens without a scan of everyone's.
   * Built on first use, kept up to date by the token writes, dropped when
   * the files are reloaded. A hit is checked against the token itself.
   */
  private tokensByUser: Map<string, Set<string>> | null = null;
  /** True while the store reports its own change of a user's db.json record (see onChange below). */
  private reportingOwnChange = false;
  private readonly sessionIndex: SessionIndex;
  private readonly identityIndex: IdentityIndex;
  private readonly audit: AuditFile;

  constructor(
    private readonly db: FileDatabase,
    private readonly options: FileStoreOptions,
  ) {
    // The database's: a sign-in's event is journaled with its session (openSignIn).
    this.audit = db.auditLog;
    this.sessionIndex = new SessionIndex(() => normalizeCredentials(this.db.credentials));
    this.identityIndex = new IdentityIndex(() => normalizeCredentials(this.db.credentials));
    db.onReload(() => {
      this.indexes = null;
      this.codeHashes = null;
      this.tokensByUser = null;
      this.sessionIndex.reset();
      this.identityIndex.reset();
    });
    // The users collection changed by someone else (the data API, a whole-document transaction):
    // the lookup maps are built again at next use. The store's own changes keep them up to date.
    db.onChange((change) => {
      if (this.reportingOwnChange) return;
      const name = change.op === 'any' ? null : change.op === 'set' ? change.name : change.collection;
      if (name === null || name === options.usersProp) this.indexes = null;
    });
  }

  // ---- users

  async createUser(input: NewUser, passwordHash: string | null, writes: SignUpWrites = {}): Promise<User> {
    const now = Date.now();
    const chosenId = input.id ?? input.username;
    // The id names the user's record in the data API's URLs (/users/<id>), where `.` and `..` are
    // path segments a URL resolves away: that record could never be read, changed or deleted there.
    if (chosenId === '.' || chosenId === '..')
      throw new AuthError(
        'validation_failed',
        `"${chosenId}" cannot name a user: it is no record id in a URL`,
      );
    const id = chosenId ?? randomUUID();
    // The hold names the account by its creation date as credentials.json has it (settleHeldMails).
    const welcome = await this.holdWelcome(writes.mails ?? [], { user: id, createdAt: dateText(now) });
    return this.withHeldMails(welcome, () =>
      this.writeUser(input, passwordHash, writes, { id, chosen: chosenId !== null }, now),
    );
  }

  /**
   * The welcome mail, held in the outbox until its account commits. A queue
   * that cannot be written costs the mail, not the sign-up: the welcome carries
   * no secret, and the account is whole without it (logged).
   */
  private async holdWelcome(mails: readonly OutgoingMail[], hold: MailHold): Promise<string[]> {
    if (mails.length === 0) return [];
    try {
      return await this.outbox().hold(mails, Date.now(), hold);
    } catch (error) {
      this.options.logger?.warn(
        `restauth: the welcome mail to ${mails.map((mail) => mail.to).join(', ')} could not be queued ` +
          `(${(error as Error).message}); the account is created without it`,
      );
      return [];
    }
  }

  /**
   * Runs `commit`, then releases the held mails `ids` when it stored what they
   * carry, or discards them when it threw or stored nothing (`stored` says).
   */
  private async withHeldMails<T>(
    ids: readonly string[],
    commit: () => Promise<T>,
    stored: (result: T) => boolean = () => true,
  ): Promise<T> {
    if (ids.length === 0) return commit();
    let result: T;
    try {
      result = await commit();
    } catch (error) {
      await this.outbox().discard(ids);
      throw error;
    }
    if (stored(result)) await this.outbox().release(ids);
    else await this.outbox().discard(ids);
    return result;
  }

  private outbox(): FileMailQueue {
    if (!this.options.outbox) throw new Error('this file store has no mail queue: open it with its backend');
    return this.options.outbox;
  }

  private writeUser(
    input: NewUser,
    passwordHash: string | null,
    writes: SignUpWrites,
    { id, chosen: chosenId }: { id: string; chosen: boolean },
    now: number,
  ): Promise<User> {
    // Journaled: the user's db.json record and its credentials.json entries are a few lines in the
    // two journals, not a rewrite of either file (whose cost grows with the users).
    return this.db.transactJournaled((docs, changes, records) => {
      const index = this.index(docs);
      if (index.byId.has(id) || (input.username !== null && this.nameTaken(index, input.username, id))) {
        throw new AuthError('user_already_exists');
      }
      // A chosen id (a user name) that records name as their owner would make them the new user's;
      // a generated one names nothing yet.
      if (chosenId && this.options.ownerProp !== undefined) {
        const props = { ownerProp: this.options.ownerProp, usersProp: this.options.usersProp };
        if (ownsRecords(docs.data, props, id)) throw new AuthError('user_already_exists');
      }
      if (input.email !== null && index.byEmail.has(loginKey(input.email)))
        throw new AuthError('email_exists');
      const identity = writes.identity;
      // Refused before anything is written: a throwing transaction is not undone.
      if (identity && this.identityIndex.holder(identity.provider, identity.providerId) !== undefined)
        throw new AuthError('identity_already_exists');
      const write = this.credentialsWrite(docs.credentials, changes);
      const credentials = write.credentials;
      // Credentials an earlier user of this id left (see findOrphans) never pass to the new one:
      // not its password, sessions, refresh tokens nor one-time tokens.
      this.removeCredentials(write, id);
      const record = userRecord(input.profile, this.options.userIdProp, id);
      this.users(docs).push(record);
      this.reportOwnChange(() => records.put(this.options.usersProp, this.options.userIdProp, record));
      const account: AccountRecord = {
        username: input.username,
        email: input.email === null ? null : loginKey(input.email),
        emailConfirmedAt: input.emailConfirmedAt?.getTime() ?? null,
        role: input.role,
        tokenVersion: 0,
        appMetadata: input.appMetadata,
        createdAt: now,
        updatedAt: now,
        lastSignInAt: input.signedIn === true ? now : null,
        ...(input.bannedUntil ? { bannedUntil: input.bannedUntil.getTime() } : {}),
        ...(input.isAnonymous ? { isAnonymous: true } : {}),
      };
      // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
      credentials.accounts[id] = account;
      changes.wrote('accounts', id);
      // A provider's sign-up has only the provider's identity, as GoTrue's.
      if (input.emailIdentity !== false) syncEmailIdentity(write, id, account);
      if (passwordHash !== null) this.setPassword(write, id, passwordHash);
      if (identity) {
        const at = identity.now.getTime();
        putIdentity(write, randomUUID(), {
          userId: id,
          provider: identity.provider,
          providerId: identity.providerId,
          identityData: identity.identityData,
          lastSignInAt: at,
          createdAt: at,
          updatedAt: at,
        });
        syncProviders(write, id);
      }
      const session = writes.session;
      if (session) {
        // The first session, in the same commit as its user.
        writeNewSession(write, id, session);
      }
      index.byId.set(id, record);
      this.indexLogins(index, id, account);
      return this.toUser(id, record, account);
    });
  }

  /** Runs `report`, a report of the store's own change of a user record: the lookup maps follow it already. */
  private reportOwnChange(report: () => void): void {
    this.reportingOwnChange = true;
    try {
      report();
    } finally {
      this.reportingOwnChange = false;
    }
  }

  /** The user's logins into the lookup maps (as index() reads them: no account, the id is the user name). */
  private indexLogins(index: Indexes, id: string, account: AccountRecord | undefined): void {
    const username = account ? account.username : id;
    if (username) {
      index.byUsername.set(loginKey(username), id);
      index.bySkeleton.set(username, id);
    }
    if (account?.email) index.byEmail.set(loginKey(account.email), id);
  }

  /** Whether `name`, or a name it looks like (core/skeleton.ts), is a user's other than `id`. */
  private nameTaken(index: Indexes, name: string, id: string): boolean {
    const owner = index.byUsername.get(loginKey(name));
    if (owner !== undefined) return owner !== id;
    return index.bySkeleton.holder(name, id) !== undefined;
  }

  /** The user's logins out of the lookup maps, where they name this user. */
  private unindexLogins(index: Indexes, id: string, account: AccountRecord | undefined): void {
    const username = account ? account.username : id;
    if (username && index.byUsername.get(loginKey(username)) === id)
      index.byUsername.delete(loginKey(username));
    if (username) index.bySkeleton.delete(username, id);
    if (account?.email && index.byEmail.get(loginKey(account.email)) === id)
      index.byEmail.delete(loginKey(account.email));
  }

  async findUserById(id: string): Promise<User | null> {
    // Each read waits out a commit under way (FileDatabase.settled): none answers a write then undone.
    await this.db.settled(BOTH_FILES);
    return this.userById(id);
  }

  async findUserByUsername(username: string): Promise<User | null> {
    await this.db.settled(BOTH_FILES);
    const id = this.index().byUsername.get(loginKey(username));
    return id === undefined ? null : this.userById(id);
  }

  async findUserByEmail(email: string): Promise<User | null> {
    await this.db.settled(BOTH_FILES);
    const id = this.index().byEmail.get(loginKey(email));
    return id === undefined ? null : this.userById(id);
  }

  async listUsers(options: { page: number; perPage: number; newestFirst?: boolean }): Promise<UserPage> {
    await this.db.settled(BOTH_FILES);
    // The index keeps db.json's order, which is creation order.
    const ids = [...this.index().byId.keys()];
    if (options.newestFirst) ids.reverse();
    const start = (Math.max(options.page, 1) - 1) * options.perPage;
    const users = ids.slice(start, start + options.perPage).map((id) => this.userById(id)!);
    return { users, total: ids.length };
  }

  async updateUser(id: string, patch: UserPatch, condition?: UserUpdateConditions): Promise<User> {
    // Without a profile only credentials.json changes (a sign-in's lastSignInAt): db.json, however
    // large, is then not serialized. applyUserPatch reads db.json but writes it only for a profile,
    // or for a new address of a record holding json-server-auth's copy of it (addressCopyOf).
    if (patch.profile === undefined && patch.email === undefined) {
      return this.db.transactCredentials((credentials, changes) =>
        this.applyUserPatch({ data: this.db.data, credentials }, id, patch, changes, undefined, condition),
      );
    }
    return this.db.transactJournaled((docs, changes, records) =>
      this.applyUserPatch(docs, id, patch, changes, records, condition),
    );
  }

  private applyUserPatch(
    docs: Documents,
    id: string,
    patch: UserPatch,
    changes: CredentialChanges,
    records?: RecordChanges,
    condition: UserUpdateConditions = {},
  ): User {
    const index = this.index(docs);
    const record = index.byId.get(id);
    if (!record) throw new AuthError('user_not_found');
    if (condition.unlessBannedAt) refuseBanned(docs.credentials, id, condition.unlessBannedAt);
    // Inside the serialized write queue, before anything changes: the password that licensed this
    // write must still be the account's (Store.updateUser's whilePasswordHashIs).
    if (
      condition.whilePasswordHashIs !== undefined &&
      (index.passwords.get(id)?.password ?? null) !== condition.whilePasswordHashIs
    )
      throw new AuthError('invalid_credentials');
    // Likewise the session that licensed it: signed out meanwhile, it licenses nothing.
    if (condition.whileSessionLive !== undefined)
      refuseEndedSession(docs.credentials, id, condition.whileSessionLive);
    if (condition.whileProfileIs !== undefined || condition.whileAppMetadataIs !== undefined) {
      // Compared as findUserById answers them, which is what the caller merged into.
      const read = this.toUser(id, record, normalizeCredentials(docs.credentials).accounts[id]);
      if (
        !sameJson(read.profile, condition.whileProfileIs ?? read.profile) ||
        !sameJson(read.appMetadata, condition.whileAppMetadataIs ?? read.appMetadata)
      )
        throw new UserDataChangedError();
    }
    if (patch.username != null && this.nameTaken(index, patch.username, id))
      throw new AuthError('user_already_exists');
    if (patch.email != null) {
      const owner = index.byEmail.get(loginKey(patch.email));
      if (owner !== undefined && owner !== id) throw new AuthError('email_exists');
    }
    const account = this.accountFor(docs, id);
    // A hand edit may have left two users one login: the maps are then built again (collisions kept).
    const loginsMove = patch.username !== undefined || patch.email !== undefined;
    if (loginsMove) this.unindexLogins(index, id, account);
    if (patch.username !== undefined) account.username = patch.username;
    if (patch.email !== undefined) account.email = patch.email === null ? null : loginKey(patch.email);
    if (patch.emailConfirmedAt !== undefined)
      account.emailConfirmedAt = patch.emailConfirmedAt?.getTime() ?? null;
    if (patch.appMetadata !== undefined) account.appMetadata = patch.appMetadata;
    if (patch.lastSignInAt !== undefined) account.lastSignInAt = patch.lastSignInAt?.getTime() ?? null;
    if (patch.bannedUntil !== undefined) account.bannedUntil = patch.bannedUntil?.getTime() ?? null;
    if (patch.isAnonymous !== undefined) account.isAnonymous = patch.isAnonymous;
    if (patch.invitedAt !== undefined) account.invitedAt = patch.invitedAt?.getTime() ?? null;
    let stored = record;
    // A new object, as the data API's writes do: a response being serialized never sees a half-edit.
    const next =
      patch.profile === undefined
        ? addressCopyOf(record, patch.email)
        : userRecord(patch.profile, this.options.userIdProp, record[this.options.userIdProp]);
    if (next !== undefined) {
      stored = next;
      const users = this.users(docs);
      // eslint-disable-next-line no-restricted-syntax -- an array index
      users[users.indexOf(record)] = stored;
      index.byId.set(id, stored);
      if (!records) throw new Error('a profile is written by a journaled transaction');
      this.reportOwnChange(() => records.put(this.options.usersProp, this.options.userIdProp, stored));
    }
    account.updatedAt = Date.now();
    changes.wrote('accounts', id);
    // GoTrue's email identity follows the address: written (or removed) when the address is set, only
    // updated when just its confirmation changes (an OAuth user confirming its address gets none).
    // Its providers follow (an address set, removed or confirmed), unless the patch sets app_metadata itself.
    const identities = this.credentialsWrite(docs.credentials, changes);
    if (patch.email !== undefined && (patch.email === null || patch.emailIdentity !== false))
      syncEmailIdentity(identities, id, account);
    else if (patch.email !== undefined || patch.emailConfirmedAt !== undefined)
      updateEmailIdentity(identities, id, account);
    if (
      (patch.email !== undefined || patch.emailConfirmedAt !== undefined) &&
      patch.appMetadata === undefined
    )
      syncProviders(identities, id);
    if (loginsMove) {
      if (index.collisions.length > 0 || index.bySkeleton.lookalikes.length > 0) this.indexes = null;
      else this.indexLogins(index, id, account);
    }
    return this.toUser(id, stored, account);
  }

  /** No factors on files: nothing enrolls one (restauth has no MFA), and no GoTrue database is adopted. */
  async findUserWithFactors(id: string): Promise<{ user: User; factors: MfaFactor[] } | null> {
    // Files keep no factors (see listMfaFactors).
    const user = await this.findUserById(id);
    return user && { user, factors: [] };
  }

  async listMfaFactors(): Promise<MfaFactor[]> {
    return [];
  }

  async updateMfaFactor(): Promise<MfaFactor | null> {
    return null;
  }

  async deleteMfaFactor(): Promise<MfaFactor | null> {
    return null;
  }

  async deleteUser(id: string, now = new Date()): Promise<boolean> {
    // One journaled transaction for the db.json record and the credentials, as sign-up writes them:
    // in two, the same json-data-server name (the user's id) registered in between had its new
    // credentials removed by the second. The audit log is left alone: it is the record of what
    // happened to the user. db.json's line is journaled first (recordsFirst): a crash between the
    // two appends then leaves credentials without a user (reported at start, dropped by a sign-up
    // of the id), where the other order left a user without its address, password or identities.
    const removed = await this.db.transactJournaled((docs, changes, records) => {
      const index = this.index(docs);
      const record = index.byId.get(id);
      if (record) {
        const users = this.users(docs);
        users.splice(users.indexOf(record), 1);
        this.reportOwnChange(() => records.delete(this.options.usersProp, this.options.userIdProp, id));
        index.byId.delete(id);
        this.unindexLogins(index, id, normalizeCredentials(docs.credentials).accounts[id]);
        // A login (or a look-alike name) another user shared (a hand edit) is theirs now: the maps are built again.
        if (index.collisions.length > 0 || index.bySkeleton.lookalikes.length > 0) this.indexes = null;
      }
      // Also without a record: credentials an older server's crash between its two writes left.
      this.removeCredentials(this.credentialsWrite(docs.credentials, changes), id);
      return record !== undefined;
    }, RECORDS_FIRST);
    // The guess limit's known clients of this id are the removed user's: ended as a password change
    // ends them (passwordSetRecord), or the next holder of the id (its name registered again) would
    // inherit the exemption from the account's guess budget that the former holder's clients earned.
    // Once committed, as changePassword does; the counters are in memory, so a restart ends them too.
    // Dated a millisecond past `now`: a known client counts when it signed in no earlier than the
    // record, and one the former holder earned in the deletion's millisecond must not.
    if (removed) {
      const set = passwordSetRecord(new Date(now.getTime() + 1));
      await this.options.rateLimits?.renew(`${set.prefix}${id}`, set.until);
    }
    return removed;
  }

  // ---- identities

  async listIdentities(userId: string): Promise<Identity[]> {
    await this.db.settled(['credentials']);
    return this.identitiesOf(userId);
  }

  async listIdentitiesOfUsers(userIds: readonly string[]): Promise<Map<string, Identity[]>> {
    await this.db.settled(['credentials']);
    return new Map(userIds.map((userId) => [userId, this.identitiesOf(userId)]));
  }

  private identitiesOf(userId: string): Identity[] {
    const identities = normalizeCredentials(this.db.credentials).identities;
    return this.identityIndex
      .identitiesOf(userId)
      .map((id) => toIdentity(id, identities[id]!))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  }

  async findIdentity(provider: string, providerId: string): Promise<Identity | null> {
    await this.db.settled(['credentials']);
    const id = this.identityIndex.holder(provider, providerId);
    if (id === undefined) return null;
    return toIdentity(id, normalizeCredentials(this.db.credentials).identities[id]!);
  }

  async linkIdentity(identity: NewIdentity, condition: LinkConditions = {}): Promise<Identity> {
    if (identity.provider === 'email')
      throw new AuthError('validation_failed', 'The email identity follows the address');
    // Checked and written in one serialized transaction: of racing links one wins.
    return this.db.transactCredentials((stored, changes) => {
      const write = this.credentialsWrite(stored, changes);
      if (!this.index().byId.has(identity.userId)) throw new AuthError('user_not_found');
      refuseBanned(stored, identity.userId, identity.now);
      // The session that licensed the link, judged in the same queue: signed out meanwhile, nothing linked.
      if (condition.whileSessionLive !== undefined)
        refuseEndedSession(stored, identity.userId, condition.whileSessionLive);
      const holder = this.identityIndex.holder(identity.provider, identity.providerId);
      const earlier = holder === undefined ? undefined : write.credentials.identities[holder]!;
      if (earlier && earlier.userId !== identity.userId) throw new AuthError('identity_already_exists');
      const at = identity.now.getTime();
      const id = holder ?? randomUUID();
      putIdentity(write, id, {
        userId: identity.userId,
        provider: identity.provider,
        providerId: identity.providerId,
        identityData: { ...(earlier?.identityData ?? {}), ...identity.identityData },
        lastSignInAt: at,
        createdAt: earlier?.createdAt ?? at,
        updatedAt: at,
      });
      syncProviders(write, identity.userId);
      return toIdentity(id, write.credentials.identities[id]!);
    });
  }

  async unlinkIdentity(userId: string, identityId: string, condition: LinkConditions = {}): Promise<void> {
    await this.db.transactCredentials((stored, changes) => {
      // Before anything changes: the session that asked for it, signed out meanwhile, licenses nothing.
      if (condition.whileSessionLive !== undefined)
        refuseEndedSession(stored, userId, condition.whileSessionLive);
      const write = this.credentialsWrite(stored, changes);
      const owned = this.identityIndex.identitiesOf(userId);
      const record = owned.includes(identityId) ? write.credentials.identities[identityId] : undefined;
      if (!record) throw new AuthError('identity_not_found');
      if (owned.length <= 1) throw new AuthError('single_identity_not_deletable');
      if (record.provider === 'email' && write.credentials.accounts[userId]?.email)
        throw new AuthError('email_conflict_identity_not_deletable');
      removeIdentity(write, identityId);
      syncProviders(write, userId);
    });
  }

  async keepOnlyIdentity(userId: string, keptIdentityId: string | null): Promise<void> {
    await this.db.transactCredentials((stored, changes) => {
      const write = this.credentialsWrite(stored, changes);
      const owned = this.identityIndex.identitiesOf(userId);
      if (keptIdentityId !== null && !owned.includes(keptIdentityId))
        throw new AuthError('identity_not_found');
      for (const id of owned) if (id !== keptIdentityId) removeIdentity(write, id);
      syncProviders(write, userId);
    });
  }

  // ---- credentials

  async getPasswordHash(userId: string): Promise<string | null> {
    await this.db.settled(BOTH_FILES);
    return this.index().passwords.get(userId)?.password ?? null;
  }

  async replacePasswordHash(
    userId: string,
    passwordHash: string,
    expectedHash: string | null,
  ): Promise<boolean> {
    return this.db.transactCredentials((stored, changes) => {
      if (!this.index().byId.has(userId) || this.storedHash(userId) !== expectedHash) return false;
      this.setPassword(this.credentialsWrite(stored, changes), userId, passwordHash);
      return true;
    });
  }

  async changePassword(
    userId: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: Date,
    expectedHash?: string | null,
    options: PasswordChangeOptions = {},
  ): Promise<User> {
    const changed = await this.db.transactCredentials((stored, changes) => {
      const write = this.credentialsWrite(stored, changes);
      const docs = { data: this.db.data, credentials: stored };
      const record = this.index().byId.get(userId);
      if (!record) throw new AuthError('user_not_found');
      if (options.evenIfBanned !== true) refuseBanned(stored, userId, now);
      // Compare-and-set inside the serialized write queue, before anything changes (a throwing
      // transaction is not undone): the proof of this change must still stand.
      if (expectedHash !== undefined && this.storedHash(userId) !== expectedHash)
        throw new AuthError('invalid_credentials');
      if (keepSessionId !== null) {
        const sessions = write.credentials.sessions;
        const kept = Object.hasOwn(sessions, keepSessionId) ? sessions[keepSessionId] : undefined;
        if (kept?.userId !== userId || kept.revokedAt !== null) throw new AuthError('session_not_found');
      }
      this.setPassword(write, userId, passwordHash);
      const account = this.accountFor(docs, userId);
      // A kept session keeps its access token working: the other sessions' tokens fail their session check.
      if (keepSessionId === null) account.tokenVersion += 1;
      account.updatedAt = now.getTime();
      changes.wrote('accounts', userId);
      revokeUserSessions(write, userId, keepSessionId, 'password_changed', now);
      // With the sessions, in the same transaction: a code exchanged after the change and before a
      // later ending of the flows opened a session the change was meant to end.
      endUserFlows(stored, changes, userId, options.keptFlowId ?? null);
      return this.toUser(userId, record, account);
    });
    // Once committed (a refused or failed change ends nothing). A check read between the commit and
    // this (the counters are in memory: a turn of the event loop) is one guess at a password just
    // set, no more. The caller's own client (knownClient) is remembered by core after this: these
    // counters are not the store's own writes (no recordsKnownClients).
    const set = passwordSetRecord(now);
    await this.options.rateLimits?.renew(`${set.prefix}${userId}`, set.until);
    return changed;
  }

  // ---- sessions

  /**
   * A password sign-in in one transaction of credentials.json: the account's lastSignInAt, the session
   * (capped) and the audit event, journaled together with one fdatasync (see CredentialsJournal), not
   * a second write of the audit log's own. No db.json write: a sign-in changes no profile.
   */
  async openSignIn(input: {
    lastSignInAt: Date;
    session: NewSession;
    audit: AuditEvent | null;
    provenHash: string;
  }): Promise<{ user: User; session: Session }> {
    const { session, audit } = input;
    return this.db.transactCredentials((credentials, changes) => {
      // Inside the serialized write queue, before anything changes (a throwing transaction is not
      // undone): a password replaced since the sign-in verified it proves nothing (Store.openSignIn).
      if (this.storedHash(session.userId) !== input.provenHash) throw new AuthError('invalid_credentials');
      // First: a user removed meanwhile is refused before anything changed.
      const user = this.applyUserPatch(
        { data: this.db.data, credentials },
        session.userId,
        { lastSignInAt: input.lastSignInAt },
        changes,
        undefined,
        { unlessBannedAt: session.createdAt },
      );
      const write = this.credentialsWrite(credentials, changes);
      writeNewSession(write, session.userId, session);
      if (session.maxPerUser > 0) dropOldestSessions(write, session.userId, session.maxPerUser, session.id);
      if (audit) changes.recorded(audit);
      return { user, session: toSession(session.id, write.credentials.sessions[session.id]!) };
    });
  }

  async createSession(session: NewSession): Promise<Session> {
    return this.db.transactCredentials((stored, changes) => {
      refuseBanned(stored, session.userId, session.createdAt);
      const write = this.credentialsWrite(stored, changes);
      writeNewSession(write, session.userId, session);
      if (session.maxPerUser > 0) dropOldestSessions(write, session.userId, session.maxPerUser, session.id);
      return toSession(session.id, write.credentials.sessions[session.id]!);
    });
  }

  async listSessions(userId: string): Promise<Session[]> {
    await this.db.settled(['credentials']);
    const sessions = normalizeCredentials(this.db.credentials).sessions;
    return this.sessionIndex
      .sessionsOf(userId)
      .filter((id) => sessions[id]?.revokedAt === null)
      .map((id) => toSession(id, sessions[id]!))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  async findSession(id: string): Promise<Session | null> {
    await this.db.settled(['credentials']);
    const sessions = normalizeCredentials(this.db.credentials).sessions;
    return Object.hasOwn(sessions, id) ? toSession(id, sessions[id]!) : null;
  }

  async findTokenStanding(sessionId: string, userId: string): Promise<TokenStanding> {
    await this.db.settled(BOTH_FILES);
    const credentials = normalizeCredentials(this.db.credentials);
    const session = Object.hasOwn(credentials.sessions, sessionId) ? credentials.sessions[sessionId]! : null;
    // A user is its db.json record, as findUserById finds it; its account may be missing (added by hand).
    const exists = this.index().byId.has(userId);
    const account = exists ? (credentials.accounts[userId] ?? defaultAccount(userId)) : null;
    // Only these fields are read, each a primitive or a new Date: nothing of the stored records leaks out.
    return {
      session: session && {
        userId: session.userId,
        notAfter: new Date(session.notAfter),
        revokedAt: session.revokedAt === null ? null : new Date(session.revokedAt),
      },
      user: account && {
        id: userId,
        username: account.username,
        email: account.email,
        bannedUntil: account.bannedUntil ? new Date(account.bannedUntil) : null,
        tokenVersion: account.tokenVersion,
        aud: null,
        isAnonymous: account.isAnonymous === true,
      },
    };
  }

  async findRefreshToken(hash: string): Promise<FoundRefreshToken | null> {
    await this.db.settled(BOTH_FILES);
    const credentials = normalizeCredentials(this.db.credentials);
    if (!Object.hasOwn(credentials.refreshTokens, hash)) return null;
    const entry = credentials.refreshTokens[hash]!;
    const session = credentials.sessions[entry.sessionId];
    if (!session) return null;
    return {
      token: {
        hash,
        sessionId: entry.sessionId,
        createdAt: new Date(entry.createdAt),
        rotatedAt: entry.rotatedAt === null ? null : new Date(entry.rotatedAt),
      },
      session: toSession(entry.sessionId, session),
      user: this.userById(session.userId),
    };
  }

  async rotateRefreshToken(presentedHash: string, successorHash: string, now: Date): Promise<boolean> {
    return this.db.transactCredentials((stored, changes) => {
      const write = this.credentialsWrite(stored, changes);
      const credentials = write.credentials;
      if (!Object.hasOwn(credentials.refreshTokens, presentedHash)) return false;
      const entry = credentials.refreshTokens[presentedHash]!;
      const session = credentials.sessions[entry.sessionId];
      if (entry.rotatedAt !== null || !session || session.revokedAt !== null) return false;
      // In the write: a ban committed since the caller's findRefreshToken rotates nothing.
      refuseBanned(stored, session.userId, now);
      const at = now.getTime();
      entry.rotatedAt = at;
      changes.wrote('refreshTokens', presentedHash);
      session.refreshedAt = at;
      changes.wrote('sessions', entry.sessionId);
      putRefreshToken(write, successorHash, {
        sessionId: entry.sessionId,
        createdAt: at,
        rotatedAt: null,
        parent: presentedHash,
      });
      forgetOldRotations(write, presentedHash);
      return true;
    });
  }

  async recordSessionActivity(sessionId: string, now: Date, inactiveBefore: Date): Promise<boolean> {
    return this.db.transactCredentials((stored, changes) => {
      const { sessions } = this.credentialsWrite(stored, changes).credentials;
      const session = Object.hasOwn(sessions, sessionId) ? sessions[sessionId] : undefined;
      if (!session || session.revokedAt !== null) return false;
      const [notAfter, refreshedAt] = [epochMs(session.notAfter), epochMs(session.refreshedAt)];
      if (notAfter <= now.getTime() || refreshedAt <= inactiveBefore.getTime()) return false;
      session.refreshedAt = now.getTime();
      changes.wrote('sessions', sessionId);
      return true;
    });
  }

  async revokeSession(sessionId: string, reason: string, now: Date): Promise<void> {
    await this.db.transactCredentials((stored, changes) => {
      revokeSession(this.credentialsWrite(stored, changes), sessionId, reason, now);
    });
  }

  async revokeUserSessions(
    userId: string,
    exceptSessionId: string | null,
    reason: string,
    now: Date,
  ): Promise<number> {
    return this.db.transactCredentials((stored, changes) =>
      revokeUserSessions(this.credentialsWrite(stored, changes), userId, exceptSessionId, reason, now),
    );
  }

  /**
   * Removes the sessions that ended before `endedBefore`, with their refresh
   * tokens: how long ended sessions are kept is core's policy
   * (core/session-retention.ts), which runs this on a timer.
   */
  async pruneSessions(endedBefore: Date): Promise<{ sessions: number; refreshTokens: number }> {
    return this.db.transactCredentials((stored, changes) =>
      pruneEndedSessions(this.credentialsWrite(stored, changes), endedBefore),
    );
  }

  // ---- one-time tokens

  /**
   * The mails are held in the outbox before the token is written and released
   * after (see FileMailQueue.hold): both or neither. The check of the throttle
   * and the replacement run in one serialized transaction.
   */
  async createOneTimeToken(
    token: OneTimeToken,
    mails: readonly OutgoingMail[] = [],
    options: OneTimeTokenConditions = {},
  ): Promise<TokenWrite> {
    // A mail that cannot be held fails the request before the token exists: neither.
    const held = mails.length === 0 ? [] : await this.outbox().hold(mails, Date.now(), { token: token.hash });
    return this.withHeldMails(
      held,
      () => this.writeOneTimeToken(token, options),
      (written) => written.stored,
    );
  }

  private writeOneTimeToken(token: OneTimeToken, options: OneTimeTokenConditions): Promise<TokenWrite> {
    return this.db.transactCredentials((stored, changes) => {
      // In the commit, as updateUser's: a ban committed since the caller read the user stores nothing,
      // nor does a deletion (db.json's record goes first; the token and its mails would outlive it).
      if (options.unlessBannedAt && isBannedIn(stored, token.userId, options.unlessBannedAt))
        return { stored: false };
      if (!this.index().byId.has(token.userId)) return { stored: false };
      if (options.whileAddressIs !== undefined && !holdsAddress(stored, token.userId, options.whileAddressIs))
        return { stored: false };
      const tokens = normalizeCredentials(stored).oneTimeTokens;
      const earlier = this.tokensOf(tokens, token.userId).filter(
        ([, entry]) => entry.purpose === token.purpose,
      );
      const since = options.unlessIssuedAfter;
      const throttled = earlier.some(
        ([, entry]) =>
          since !== undefined &&
          Date.parse(entry.createdAt) > since.getTime() &&
          // Dated further ahead than the throttle's length: by a clock since set back (Store's doc).
          Date.parse(entry.createdAt) < 2 * token.createdAt.getTime() - since.getTime() &&
          Date.parse(entry.expiresAt) > token.createdAt.getTime(),
      );
      if (throttled) return { stored: false };
      if (token.codeHash !== null) {
        // As PostgreSQL's unique index on code_hash: one code names one token. The token being
        // replaced (same user and purpose) may hold it; any other holder is refused (checked
        // before anything changes, as a throwing transaction is not undone).
        const holder = this.tokenByCode(tokens, token.codeHash);
        if (
          holder !== null &&
          (holder.entry.userId !== token.userId || holder.entry.purpose !== token.purpose)
        )
          throw new CodeHashInUseError();
      }
      for (const [hash, entry] of earlier) {
        delete tokens[hash];
        changes.wrote('oneTimeTokens', hash);
        this.forgetToken(tokens, hash, entry);
      }
      const entry: OneTimeTokenEntry = {
        codeHash: token.codeHash,
        recipient: token.recipient ?? null,
        userId: token.userId,
        purpose: token.purpose,
        createdAt: token.createdAt.toISOString(),
        expiresAt: token.expiresAt.toISOString(),
        data: token.data,
      };
      // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
      tokens[token.hash] = entry;
      changes.wrote('oneTimeTokens', token.hash);
      this.indexToken(tokens, token.hash, entry);
      return { stored: true };
    });
  }

  async consumeOneTimeToken(
    hash: string,
    purpose: string,
    now: Date,
    conditions: SpendConditions = {},
  ): Promise<OneTimeToken | null> {
    return this.db.transactCredentials((stored, changes) => {
      const tokens = normalizeCredentials(stored).oneTimeTokens;
      // The link's hash only: a code's hash is never a link (see consumeOneTimeCode).
      if (!Object.hasOwn(tokens, hash) || tokens[hash]!.purpose !== purpose) return null;
      const entry = tokens[hash]!;
      if (!this.spendable(stored, entry, now, conditions)) return null;
      delete tokens[hash];
      changes.wrote('oneTimeTokens', hash);
      this.forgetToken(tokens, hash, entry);
      if (new Date(entry.expiresAt).getTime() <= now.getTime()) return null;
      return toOneTimeToken(hash, entry);
    });
  }

  async consumeOneTimeCode(attempt: CodeAttempt): Promise<OneTimeToken | null> {
    const { recipient, candidates, now, maxFailures } = attempt;
    return this.db.transactCredentials((stored, changes) => {
      const tokens = normalizeCredentials(stored).oneTimeTokens;
      for (const { purpose, codeHash } of candidates) {
        const found = this.tokenByCode(tokens, codeHash);
        if (found === null || found.entry.purpose !== purpose || found.entry.recipient !== recipient)
          continue;
        if (!this.spendable(stored, found.entry, now, attempt.conditions ?? {})) return null;
        delete tokens[found.hash];
        changes.wrote('oneTimeTokens', found.hash);
        this.forgetToken(tokens, found.hash, found.entry);
        if (new Date(found.entry.expiresAt).getTime() <= now.getTime()) return null;
        return toOneTimeToken(found.hash, found.entry);
      }
      // A miss counts against every live code the guess may have been aimed at. A scan: misses are
      // rate limited. The last allowed one retires the code; the link, 256 random bits no one
      // guesses, lives on (CodeAttempt.maxFailures).
      const purposes = new Set(candidates.map((candidate) => candidate.purpose));
      const codes = this.codeIndex(tokens);
      for (const [hash, entry] of Object.entries(tokens)) {
        if (entry.recipient !== recipient || !purposes.has(entry.purpose) || !entry.codeHash) continue;
        if (Date.parse(entry.expiresAt) <= now.getTime()) continue;
        changes.wrote('oneTimeTokens', hash);
        entry.failedAttempts = (entry.failedAttempts ?? 0) + 1;
        if (entry.failedAttempts < maxFailures) continue;
        forgetCode(codes, hash, entry);
        entry.codeHash = null;
      }
      return null;
    });
  }

  /**
   * Whether a found token may be spent under `conditions`, read in the spending transaction: a ban
   * refuses (user_banned) before anything changes (see refuseBanned). An expired one always is: it
   * goes, as nothing would make it work again.
   */
  private spendable(
    stored: JsonDocument,
    entry: OneTimeTokenEntry,
    now: Date,
    conditions: SpendConditions,
  ): boolean {
    if (Date.parse(entry.expiresAt) <= now.getTime()) return true;
    if (conditions.unlessBannedAt) refuseBanned(stored, entry.userId, conditions.unlessBannedAt);
    if (conditions.whileAddressedFor === undefined) return true;
    if (!this.index().byId.has(entry.userId)) return false;
    return (
      entry.recipient == null ||
      !conditions.whileAddressedFor.includes(entry.purpose) ||
      holdsAddress(stored, entry.userId, entry.recipient)
    );
  }

  async findOneTimeToken(userId: string, purpose: string, now: Date): Promise<OneTimeToken | null> {
    await this.db.settled(['credentials']);
    const tokens = normalizeCredentials(this.db.credentials).oneTimeTokens;
    for (const [hash, entry] of this.tokensOf(tokens, userId)) {
      if (entry.purpose === purpose && Date.parse(entry.expiresAt) > now.getTime())
        return toOneTimeToken(hash, entry);
    }
    return null;
  }

  // ---- audit log

  async recordAuditEvent(event: AuditEvent): Promise<void> {
    await this.audit.record(event);
  }

  async listAuditEvents(options: { page: number; perPage: number; userId?: string }): Promise<AuditPage> {
    return this.audit.list(options);
  }

  async pruneAuditEvents(before: Date): Promise<number> {
    return this.audit.prune(before);
  }

  async assertWritable(): Promise<void> {
    await this.options.storage?.assertWritable();
    // A journal at its bound refuses writes whatever the folders say (FileDatabase.journalsFull).
    if (this.db.journalsFull) {
      throw new AuthError('insufficient_storage', undefined, {
        retryAfter: STORAGE_RETRY_AFTER_S,
      });
    }
  }

  async close(): Promise<void> {
    // The database closes the audit log after its last compaction (which may write journaled events).
    await this.db.close();
  }

  // ---- helpers

  /**
   * Users whose user names or addresses are one login once normalised (see
   * core/identity.ts): written by hand, or before logins were normalised.
   * The store refuses to open with any (openFileStore), naming them.
   */
  loginCollisions(): string[] {
    return [...this.index().collisions];
  }

  /** Users whose names look alike (core/skeleton.ts), stored before such names were refused. */
  lookalikeNames(): string[] {
    return [...this.index().bySkeleton.lookalikes];
  }

  /**
   * Ids that have credentials but no user in db.json: a crash between
   * deleteUser's two writes, or a db.json replaced or edited by hand. They are
   * only reported: credentials are never deleted automatically, as the
   * "missing" users may come back with the right db.json.
   */
  findOrphans(): string[] {
    const credentials = normalizeCredentials(this.db.credentials);
    const users = this.index().byId;
    const orphans = new Set<string>();
    for (const entry of credentials.passwords) if (!users.has(entry.sub)) orphans.add(entry.sub);
    for (const id of Object.keys(credentials.accounts)) if (!users.has(id)) orphans.add(id);
    return [...orphans];
  }

  /**
   * credentials.json inside a transaction, for the writes that keep the
   * session index up to date. Without `changes` the commit rewrites the whole
   * file (a `transact`), so nothing needs a journal line.
   */
  private credentialsWrite(
    stored: JsonDocument,
    changes = new CredentialChanges(),
  ): CredentialsWrite & IdentitiesWrite {
    return {
      credentials: normalizeCredentials(stored),
      changes,
      sessions: this.sessionIndex,
      identities: this.identityIndex,
    };
  }

  /**
   * Everything credentials.json holds of a user: password, account, identities, sessions, refresh and
   * one-time tokens (its contested mark and pending address change among them), and its flows. What
   * is keyed by the id must go whole: the next user of the id (a json-data-server name registered
   * again) would otherwise find it theirs.
   */
  private removeCredentials(write: CredentialsWrite & IdentitiesWrite, userId: string): void {
    const { credentials, changes } = write;
    const passwords = this.index().passwords;
    if (passwords.has(userId)) {
      // A scan, only for a user that has a password (a removal, or a sign-up over an orphan).
      credentials.passwords = credentials.passwords.filter((entry) => entry.sub !== userId);
      passwords.delete(userId);
      changes.wrotePassword(userId, null);
    }
    if (Object.hasOwn(credentials.accounts, userId)) {
      delete credentials.accounts[userId];
      changes.wrote('accounts', userId);
    }
    removeUserIdentities(write, userId);
    removeSessions(write, this.sessionIndex.sessionsOf(userId));
    const tokens = credentials.oneTimeTokens;
    for (const [hash, entry] of this.tokensOf(tokens, userId)) {
      delete tokens[hash];
      changes.wrote('oneTimeTokens', hash);
      this.forgetToken(tokens, hash, entry);
    }
    removeUserFlows(credentials, changes, userId);
  }

  /** The user's one-time tokens, by hash. */
  private tokensOf(
    tokens: Record<string, OneTimeTokenEntry>,
    userId: string,
  ): Array<[string, OneTimeTokenEntry]> {
    if (!this.tokensByUser) {
      const byUser = new Map<string, Set<string>>();
      for (const [hash, entry] of Object.entries(tokens)) addTo(byUser, entry.userId, hash);
      this.tokensByUser = byUser;
    }
    const found: Array<[string, OneTimeTokenEntry]> = [];
    for (const hash of this.tokensByUser.get(userId) ?? []) {
      const entry = Object.hasOwn(tokens, hash) ? tokens[hash]! : undefined;
      if (entry?.userId === userId) found.push([hash, entry]);
    }
    return found;
  }

  /** A token put: into the per-user and code indexes. */
  private indexToken(
    tokens: Record<string, OneTimeTokenEntry>,
    hash: string,
    entry: OneTimeTokenEntry,
  ): void {
    this.tokensOf(tokens, entry.userId);
    addTo(this.tokensByUser!, entry.userId, hash);
    if (entry.codeHash) this.codeIndex(tokens).set(entry.codeHash, hash);
  }

  /** A token removed: out of the per-user and code indexes. */
  private forgetToken(
    tokens: Record<string, OneTimeTokenEntry>,
    hash: string,
    entry: OneTimeTokenEntry,
  ): void {
    const hashes = this.tokensByUser?.get(entry.userId);
    hashes?.delete(hash);
    if (hashes?.size === 0) this.tokensByUser!.delete(entry.userId);
    forgetCode(this.codeIndex(tokens), hash, entry);
  }

  private codeIndex(tokens: Record<string, OneTimeTokenEntry>): Map<string, string> {
    if (this.codeHashes) return this.codeHashes;
    const index = new Map<string, string>();
    for (const [hash, entry] of Object.entries(tokens)) if (entry.codeHash) index.set(entry.codeHash, hash);
    this.codeHashes = index;
    return index;
  }

  /** The token whose code hash is `codeHash`, or null. */
  private tokenByCode(
    tokens: Record<string, OneTimeTokenEntry>,
    codeHash: string,
  ): { hash: string; entry: OneTimeTokenEntry } | null {
    const hash = this.codeIndex(tokens).get(codeHash);
    if (hash === undefined || !Object.hasOwn(tokens, hash)) return null;
    const entry = tokens[hash]!;
    return entry.codeHash === codeHash ? { hash, entry } : null;
  }

  private users(docs: Documents = { data: this.db.data, credentials: this.db.credentials }): UserRecord[] {
    const users = docs.data[this.options.usersProp];
    if (Array.isArray(users)) return users as UserRecord[];
    const created: UserRecord[] = [];
    // eslint-disable-next-line no-restricted-syntax -- usersProp is configuration, not a client string
    docs.data[this.options.usersProp] = created;
    return created;
  }

  private idOf(record: UserRecord): string {
    return String(record[this.options.userIdProp]);
  }

  /** The lookup maps (see Indexes), built at first use. */
  private index(docs?: Documents): Indexes {
    if (this.indexes) return this.indexes;
    const source = docs ?? { data: this.db.data, credentials: this.db.credentials };
    const credentials = normalizeCredentials(source.credentials);
    const byId = new Map<string, UserRecord>();
    const byUsername = new Map<string, string>();
    const bySkeleton = new NameSkeletons();
    const byEmail = new Map<string, string>();
    const collisions: string[] = [];
    // The first user keeps a login another shares: never silently merged, reported by loginCollisions().
    const claim = (map: Map<string, string>, key: string, id: string) => {
      const holder = map.get(key);
      if (holder === undefined) map.set(key, id);
      else if (holder !== id) collisions.push(`"${holder}" and "${id}" share the login "${key}"`);
    };
    for (const record of this.users(source)) {
      if (typeof record !== 'object' || record === null) continue;
      const id = this.idOf(record);
      byId.set(id, record);
      const account = credentials.accounts[id];
      const username = account ? account.username : id;
      if (username) {
        claim(byUsername, loginKey(username), id);
        bySkeleton.claim(username, id);
      }
      // The address is the account's only: an `email` on the public record is user data, never a login.
      if (account?.email) claim(byEmail, loginKey(account.email), id);
    }
    const passwords = new Map<string, PasswordEntry>();
    for (const entry of credentials.passwords) if (!passwords.has(entry.sub)) passwords.set(entry.sub, entry);
    this.indexes = { byId, byUsername, bySkeleton, byEmail, passwords, collisions };
    return this.indexes;
  }

  private userById(id: string): User | null {
    const record = this.index().byId.get(id);
    if (!record) return null;
    return this.toUser(id, record, normalizeCredentials(this.db.credentials).accounts[id]);
  }

  /** The private fields of a user; users added to db.json by hand get defaults (no password). */
  private accountFor(docs: Documents, id: string): AccountRecord {
    const accounts = normalizeCredentials(docs.credentials).accounts;
    // eslint-disable-next-line no-restricted-syntax -- a null-prototype map (normalizeCredentials)
    accounts[id] ??= defaultAccount(id);
    return accounts[id];
  }

  private storedHash(userId: string): string | null {
    return this.index().passwords.get(userId)?.password ?? null;
  }

  private setPassword(write: CredentialsWrite, userId: string, passwordHash: string): void {
    const passwords = this.index().passwords;
    let entry = passwords.get(userId);
    if (entry) entry.password = passwordHash;
    else {
      entry = { sub: userId, password: passwordHash };
      write.credentials.passwords.push(entry);
      passwords.set(userId, entry);
    }
    write.changes.wrotePassword(userId, entry);
  }

  /**
   * The account's app_metadata. One stored before restauth kept `provider` and `providers` there (or
   * written by hand without them) shows them made from its identities, as PostgreSQL's migration 31
   * gave them (`email` with none: the provider its password signs in with; an anonymous user none, as
   * GoTrue's), until a link, unlink or address change stores them: the file is not rewritten for it,
   * so a release before reads it as it wrote it.
   */
  private appMetadataOf(id: string, account: AccountRecord): Record<string, unknown> {
    const stored = copyJson(account.appMetadata);
    if (Object.hasOwn(stored, 'providers') || account.isAnonymous === true) return stored;
    const providers = providersOf(this.identitiesOf(id));
    return withProviders(stored, providers.length > 0 ? providers : ['email']);
  }

  private toUser(id: string, record: UserRecord, account: AccountRecord | undefined): User {
    const stored = account ?? defaultAccount(id);
    const { [this.options.userIdProp]: _id, ...profile } = record;
    return {
      id,
      username: stored.username,
      email: stored.email,
      emailConfirmedAt: stored.emailConfirmedAt === null ? null : new Date(stored.emailConfirmedAt),
      role: stored.role,
      tokenVersion: stored.tokenVersion,
      profile: copyJson(profile),
      appMetadata: this.appMetadataOf(id, stored),
      createdAt: new Date(stored.createdAt),
      updatedAt: new Date(stored.updatedAt),
      lastSignInAt: stored.lastSignInAt === null ? null : new Date(stored.lastSignInAt),
      bannedUntil: stored.bannedUntil ? new Date(stored.bannedUntil) : null,
      isAnonymous: stored.isAnonymous === true,
      // credentials.json keeps no audience: every user's is the configured one.
      aud: null,
      invitedAt: stored.invitedAt ? new Date(stored.invitedAt) : null,
    };
  }
}

/**
 * A db.json record json-server-auth wrote keeps the user's address in `email` (json-server-auth-takeover.ts),
 * where its apps look users up (`GET /users?email=`) and json-server-auth's answers show it. When the
 * account's address changes the copy follows (or goes, with the address): left as it was, the old address
 * went on naming this user, also once someone else had signed up with it. A copy of the record with the
 * new address, or undefined when it holds no copy or the address does not change.
 */
function addressCopyOf(record: UserRecord, email: string | null | undefined): UserRecord | undefined {
  if (email === undefined || typeof record['email'] !== 'string' || record['email'] === email)
    return undefined;
  const { email: _old, ...rest } = record;
  return email === null ? rest : { ...rest, email };
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let values = index.get(key);
  if (!values) index.set(key, (values = new Set()));
  values.add(value);
}

function defaultAccount(id: string): AccountRecord {
  const epoch = 0;
  return {
    username: id,
    email: null,
    emailConfirmedAt: null,
    role: null,
    tokenVersion: 0,
    appMetadata: {},
    createdAt: epoch,
    updatedAt: epoch,
    lastSignInAt: null,
  };
}

/** Drops a removed token's code from the index, unless the code already names another token. */
function forgetCode(codes: Map<string, string>, hash: string, entry: OneTimeTokenEntry): void {
  if (entry.codeHash && codes.get(entry.codeHash) === hash) codes.delete(entry.codeHash);
}

function toOneTimeToken(hash: string, entry: OneTimeTokenEntry): OneTimeToken {
  return {
    hash,
    codeHash: entry.codeHash ?? null,
    recipient: entry.recipient ?? null,
    userId: entry.userId,
    purpose: entry.purpose,
    createdAt: new Date(entry.createdAt),
    expiresAt: new Date(entry.expiresAt),
    // A copy: the caller must not edit the stored token.
    data: structuredClone(entry.data),
  };
}

function toSession(id: string, record: SessionRecord): Session {
  return {
    id,
    userId: record.userId,
    createdAt: new Date(record.createdAt),
    refreshedAt: new Date(record.refreshedAt),
    notAfter: new Date(record.notAfter),
    revokedAt: record.revokedAt === null ? null : new Date(record.revokedAt),
    revokedReason: record.revokedReason,
    refreshSecret: record.refreshSecret,
    amr: (record.amr ?? []).map((claim) => ({ method: claim.method, at: new Date(claim.at) })),
  };
}

/** Whether two JSON values read from one record are the same (both serialized from it: one key order). */
/**
 * AuthError('session_not_found') unless the user's session `sessionId` is live at `at` in `credentials`
 * as committed (read inside a write's transaction): not ended, not past its end.
 */
function refuseEndedSession(
  credentials: JsonDocument,
  userId: string,
  { sessionId, at }: { sessionId: string; at: Date },
): void {
  const sessions = normalizeCredentials(credentials).sessions;
  const session = Object.hasOwn(sessions, sessionId) ? sessions[sessionId] : undefined;
  if (session?.userId !== userId || session.revokedAt !== null || epochMs(session.notAfter) <= at.getTime())
    throw new AuthError('session_not_found');
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Whether the account's address, as committed, is `address` (accounts keep theirs as a login key). */
function holdsAddress(credentials: JsonDocument, userId: string, address: string): boolean {
  const email = normalizeCredentials(credentials).accounts[userId]?.email;
  return email != null && loginKey(email) === loginKey(address);
}
