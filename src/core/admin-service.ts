import { assertAddressFree } from './address-owner.js';
import type { AuditLog, Client } from './audit.js';
import type { AuthService } from './auth-service.js';
import type { EmailFlows, VerifyType } from './email-flows.js';
import { parseBanDuration } from './ban-duration.js';
import type { PkceFlows } from './flow-states.js';
import { replacePassword } from './password-replacement.js';
import { AuthError } from './errors.js';
import type { OneTimeTokens } from './one-time-tokens.js';
import type { PasswordHasher } from './passwords.js';
import type { MfaFactor, Session, Store, User, UserPage, UserPatch } from './ports/store.js';
import type { SessionManager } from './sessions.js';
import { checkEmail, isEmailLogin } from './identity.js';
import { withProviders } from './identities.js';
import { mergeMetadata } from './metadata.js';
import { updateMerged } from './merged-update.js';
import { checkUserData } from './validation.js';

export interface AdminUserInput {
  email?: string | undefined;
  password?: string | undefined;
  /** true: the address counts as confirmed (GoTrue's email_confirm). */
  emailConfirm?: boolean | undefined;
  profile?: Record<string, unknown> | undefined;
  appMetadata?: Record<string, unknown> | undefined;
  /** GoTrue's ban_duration: a Go duration ("24h") bans until now + it, "none" lifts the ban. */
  banDuration?: string | undefined;
}

export type GeneratedLinkType =
  'signup' | 'invite' | 'magiclink' | 'recovery' | 'email_change_current' | 'email_change_new';

export interface GeneratedLink {
  user: User;
  type: VerifyType;
  token: string;
  code: string;
  link: string | null;
  redirectTo: string | null;
}

/**
 * What an admin (a service-role token) may do to accounts: create, edit,
 * delete, list, and generate mail links without sending them. Every action
 * is in the audit log.
 */
export class AdminService {
  constructor(
    private readonly deps: {
      store: Store;
      auth: AuthService;
      flows: EmailFlows;
      /** The PKCE flows, which a ban or a password set here ends (as their sessions). */
      pkce: PkceFlows;
      oneTimeTokens: OneTimeTokens;
      hasher: PasswordHasher;
      audit: AuditLog;
      sessions: SessionManager;
      clock: () => Date;
      /** Most bytes of JSON user_metadata or app_metadata may grow to (bodyLimit; see mergeMetadata). */
      maxUserDataBytes: number;
    },
  ) {}

  listUsers(page: number, perPage: number, options: { newestFirst?: boolean } = {}): Promise<UserPage> {
    return this.deps.store.listUsers({ page, perPage, ...options });
  }

  /**
   * The user an operator names: an address (a login with @), else an id,
   * else a user name; normalised as every login is (identity.ts).
   */
  async findUser(login: string): Promise<User> {
    const trimmed = login.trim();
    if (isEmailLogin(trimmed)) return this.found(await this.deps.store.findUserByEmail(checkEmail(trimmed)));
    const byId = await this.deps.store.findUserById(trimmed);
    const byName = await this.deps.store.findUserByUsername(trimmed);
    // Both, and not one user: anyone may sign up with a name that is another user's id (json-server's
    // ids are 1, 2, 3 ...), and an operator acting on that user by the name it shows would act on
    // the other account (reset its password, ban it). Neither is guessed.
    if (byId && byName && byId.id !== byName.id) {
      throw new AuthError(
        'validation_failed',
        `"${trimmed}" is the id of one user and the user name of another (id ${byName.id}): name the first by its address or user name, the second by its id`,
      );
    }
    return this.found(byId ?? byName);
  }

  private found(user: User | null): User {
    if (!user) throw new AuthError('user_not_found');
    return user;
  }

  /** The user's live sessions, newest first. */
  async listSessions(id: string): Promise<Session[]> {
    const user = await this.getUser(id);
    return this.deps.sessions.listLive(user.id, this.deps.clock());
  }

  /** Ends every session of the user: refresh tokens stop working, access tokens fail their session check. */
  async signOut(client: Client, id: string): Promise<number> {
    const user = await this.getUser(id);
    const ended = await this.deps.store.revokeUserSessions(
      user.id,
      null,
      'admin_sign_out',
      this.deps.clock(),
    );
    await this.deps.audit.record('admin_user_signed_out', client, {
      userId: user.id,
      actorId: null,
      data: { sessions: ended },
    });
    return ended;
  }

  async getUser(id: string): Promise<User> {
    const user = await this.deps.store.findUserById(id);
    if (!user) throw new AuthError('user_not_found');
    return user;
  }

  async createUser(client: Client, input: AdminUserInput): Promise<User> {
    if (input.email === undefined) throw new AuthError('validation_failed', 'email is required');
    const email = checkEmail(input.email);
    checkUserData([input.profile, input.appMetadata], 'User data');
    const bannedUntil =
      input.banDuration === undefined ? null : this.bannedUntil(input.banDuration, this.deps.clock());
    await assertAddressFree(this.deps.store, email, null);
    let hash: string | null = null;
    if (input.password !== undefined) {
      this.deps.hasher.assertAcceptable(input.password);
      hash = await this.deps.hasher.hash(input.password);
    }
    const user = await this.deps.store.createUser(
      {
        username: null,
        email,
        emailConfirmedAt: input.emailConfirm ? this.deps.clock() : null,
        role: null,
        profile: input.profile ?? {},
        // GoTrue's admin sets the address's provider, then merges the app_metadata given over it.
        appMetadata: mergeMetadata(
          withProviders({}, ['email']),
          input.appMetadata ?? {},
          this.deps.maxUserDataBytes,
        ),
        // In the insert: banned after a commit of its own, a fault on that left an unbanned user.
        ...(bannedUntil ? { bannedUntil } : {}),
      },
      hash,
    );
    await this.deps.audit.record('admin_user_created', client, { userId: user.id, actorId: null });
    return user;
  }

  /** The end of a ban of `duration` from now; null: no ban (see ban-duration.ts). */
  private bannedUntil(duration: string, now: Date): Date | null {
    const ms = parseBanDuration(duration);
    return ms === null || ms <= 0 ? null : new Date(now.getTime() + ms);
  }

  async updateUser(client: Client, id: string, input: AdminUserInput): Promise<User> {
    const user = await this.getUser(id);
    checkUserData([input.profile, input.appMetadata], 'User data');
    const patch: UserPatch = {};
    const now = this.deps.clock();
    // Parsed first: a malformed duration is a 400 before anything changes.
    if (input.banDuration !== undefined) patch.bannedUntil = this.bannedUntil(input.banDuration, now);
    if (input.email !== undefined) {
      const email = checkEmail(input.email);
      await assertAddressFree(this.deps.store, email, id);
      patch.email = email;
      if (email !== user.email) patch.emailConfirmedAt = null;
    }
    if (input.emailConfirm !== undefined)
      patch.emailConfirmedAt = input.emailConfirm ? this.deps.clock() : null;
    // Merged into the user as written (updateMerged), and here into the user as read: a merge over
    // the bound is refused before the first write.
    const withData = (current: User): UserPatch => ({
      ...patch,
      ...(input.profile !== undefined
        ? { profile: mergeMetadata(current.profile, input.profile, this.deps.maxUserDataBytes) }
        : {}),
      ...(input.appMetadata !== undefined
        ? { appMetadata: mergeMetadata(current.appMetadata, input.appMetadata, this.deps.maxUserDataBytes) }
        : {}),
    });
    const asRead = withData(user);
    // Before the first write, as every other refusal: a weak password refused after the address, the
    // metadata or a ban were written answered 422 for an update that had half happened.
    let hash: string | null = null;
    if (input.password !== undefined) {
      this.deps.hasher.assertAcceptable(input.password);
      hash = await this.deps.hasher.hash(input.password);
    }
    let updated = Object.keys(asRead).length > 0 ? await updateMerged(this.deps.store, user, withData) : user;
    // A ban ends every session at once: refresh tokens stop working, access tokens fail their check.
    // Its PKCE flows too: refused while the ban lasts, a code issued before it exchanged for a
    // session the moment it was lifted.
    if (patch.bannedUntil) {
      await this.deps.store.revokeUserSessions(id, null, 'banned', now);
      await this.deps.pkce.endFlowsOf(id, null);
    }
    if (hash !== null) {
      // An admin setting a password ends every session (and PKCE flow) of the account, as a reset does.
      // The administrator's own change: a banned account's password may be set (the ban stays).
      updated = await replacePassword(this.deps, {
        userId: id,
        passwordHash: hash,
        keepSessionId: null,
        now: this.deps.clock(),
        options: { evenIfBanned: true },
      });
    }
    await this.deps.audit.record('admin_user_updated', client, {
      userId: id,
      actorId: null,
      data: { fields: Object.keys(input).filter((key) => input[key as keyof AdminUserInput] !== undefined) },
    });
    return updated;
  }

  async deleteUser(client: Client, id: string): Promise<void> {
    if (!(await this.deps.store.deleteUser(id, this.deps.clock()))) throw new AuthError('user_not_found');
    await this.deps.audit.record('admin_user_deleted', client, { userId: id, actorId: null });
  }

  /** The user's MFA factors (GoTrue's GET /admin/users/:id/factors); user_not_found for no user. */
  async listFactors(id: string): Promise<MfaFactor[]> {
    await this.getUser(id);
    return this.factorsOf(id);
  }

  /** The factors of a user just read (the admin user object's `factors`). */
  factorsOf(userId: string): Promise<MfaFactor[]> {
    return this.deps.store.listMfaFactors(userId);
  }

  /**
   * Deletes a user's MFA factor (GoTrue's DELETE /admin/users/:id/factors/:factorId): the operator's
   * way to let a user with a verified factor, refused insufficient_aal (restauth asks no second
   * factor), sign in again at aal1. mfa_factor_not_found when the user has no such factor.
   */
  async deleteFactor(client: Client, id: string, factorId: string): Promise<MfaFactor> {
    await this.getUser(id);
    const factor = await this.deps.store.deleteMfaFactor(id, factorId);
    if (factor === null) throw new AuthError('mfa_factor_not_found');
    await this.deps.audit.record('admin_factor_deleted', client, {
      userId: id,
      actorId: null,
      data: { factor_id: factor.id, factor_type: factor.factorType, status: factor.status },
    });
    return factor;
  }

  /**
   * Changes a user's MFA factor (GoTrue's PUT /admin/users/:id/factors/:factorId): its friendly name,
   * and a phone factor's phone (E.164, as GoTrue's validatePhone). What is empty or absent is kept,
   * as GoTrue's. mfa_factor_not_found when the user has no such factor.
   */
  async updateFactor(
    client: Client,
    id: string,
    factorId: string,
    input: { friendlyName?: string | undefined; phone?: string | undefined },
  ): Promise<MfaFactor> {
    await this.getUser(id);
    const change = {
      friendlyName: input.friendlyName ? input.friendlyName : null,
      phone: input.phone ? factorPhone(input.phone) : null,
    };
    const factor = await this.deps.store.updateMfaFactor(id, factorId, change, this.deps.clock());
    if (factor === null) throw new AuthError('mfa_factor_not_found');
    await this.deps.audit.record('admin_factor_updated', client, {
      userId: id,
      actorId: null,
      data: { factor_id: factor.id, factor_type: factor.factorType },
    });
    return factor;
  }

  /** Invites a new address by mail (GoTrue's POST /invite); see EmailFlows.invite. */
  async inviteUser(
    client: Client,
    input: {
      email: string;
      profile?: Record<string, unknown> | undefined;
      redirectTo: string | null;
    },
  ): Promise<User> {
    return this.deps.flows.invite(client, input.email, input.profile ?? {}, input.redirectTo);
  }

  /**
   * A mail link made but not sent (GoTrue's generate_link): the admin's app
   * mails it itself. signup creates the account with its password; invite
   * and magiclink create a passwordless one when the address is new.
   */
  async generateLink(
    client: Client,
    input: {
      type: GeneratedLinkType;
      email: string;
      password?: string | undefined;
      profile?: Record<string, unknown> | undefined;
      /** The address an email change moves to (email_change_current and email_change_new). */
      newEmail?: string | undefined;
      redirectTo: string | null;
    },
  ): Promise<GeneratedLink> {
    const email = checkEmail(input.email);
    if (input.type === 'email_change_current' || input.type === 'email_change_new') {
      return this.generateEmailChangeLink(client, { ...input, type: input.type, email });
    }
    let user: User;
    /** Whether this request made the account (its user_metadata is then this request's `data`). */
    let made = false;
    if (input.type === 'signup') {
      await assertAddressFree(this.deps.store, email, null);
      if (input.password === undefined) throw new AuthError('validation_failed', 'password is required');
      user = await this.deps.auth.register(client, {
        email,
        password: input.password,
        profile: input.profile ?? {},
        emailConfirmed: false,
        sendMail: false,
      });
    } else {
      const existing = await this.deps.store.findUserByEmail(email);
      if (!existing && input.type === 'recovery') throw new AuthError('user_not_found');
      // As /invite and GoTrue's generate_link: a confirmed account is no one to invite.
      if (existing && input.type === 'invite' && existing.emailConfirmedAt !== null)
        throw new AuthError('email_exists');
      made = existing === null;
      user = existing ?? (await this.deps.flows.createPasswordless(email, input.profile ?? {}));
    }
    const purpose = input.type === 'signup' ? 'confirmation' : input.type;
    // The link signs its follower into an account whose password came from whoever typed the address
    // first (a squatter's sign-up): followed, it retires that, as the mailed magic link and invitation do.
    // A signup link's password is the one this request set; a recovery link retires by its type.
    const data =
      input.type === 'magiclink' || input.type === 'invite'
        ? this.deps.flows.unaskedLinkData(user, made)
        : {};
    const now = this.deps.clock();
    const issued = await this.deps.oneTimeTokens
      .issueNow(user.id, email, purpose, now, data)
      .catch(async (error) => {
        // The signup link's account was made by this request and no one has its id yet: undone, or the
        // retry its error asks for would find the address taken for good (a failed undo leaves it).
        if (input.type === 'signup') await this.deps.store.deleteUser(user.id, now).catch(() => false);
        throw error;
      });
    if (input.type === 'invite') user = await this.deps.flows.markInvited(user, now);
    const secret = this.deps.flows.secret(input.type, issued, input.redirectTo);
    await this.deps.audit.record('admin_link_generated', client, {
      userId: user.id,
      actorId: null,
      data: { type: input.type },
    });
    return {
      user,
      type: input.type,
      token: issued.token,
      code: issued.code,
      link: secret.link ?? null,
      redirectTo: input.redirectTo,
    };
  }

  /**
   * GoTrue's email change links: the confirmation of one side (the current address or the new one)
   * of moving `email`'s account to `newEmail`; the change happens once both sides' links are used,
   * as after PUT /user. Nothing is mailed.
   */
  private async generateEmailChangeLink(
    client: Client,
    input: {
      type: 'email_change_current' | 'email_change_new';
      email: string;
      newEmail?: string | undefined;
      redirectTo: string | null;
    },
  ): Promise<GeneratedLink> {
    const user = await this.deps.store.findUserByEmail(input.email);
    if (!user) throw new AuthError('user_not_found', 'User with this email not found');
    const newEmail = checkEmail(input.newEmail ?? '');
    await assertAddressFree(this.deps.store, newEmail, user.id);
    const now = this.deps.clock();
    const data = { newEmail, both: true };
    // As GoTrue's, a call issues its own side's token and leaves the other side's as it is.
    const issued =
      input.type === 'email_change_new'
        ? await this.deps.oneTimeTokens.issueNow(user.id, newEmail, 'email_change_new', now, data)
        : await this.deps.oneTimeTokens.issueNow(user.id, input.email, 'email_change_current', now, data);
    const secret = this.deps.flows.secret('email_change', issued, input.redirectTo);
    await this.deps.audit.record('admin_link_generated', client, {
      userId: user.id,
      actorId: null,
      data: { type: input.type },
    });
    return {
      user,
      type: 'email_change',
      token: issued.token,
      code: issued.code,
      link: secret.link ?? null,
      redirectTo: input.redirectTo,
    };
  }
}

/** A phone as GoTrue's validatePhone keeps it: no leading `+` nor spaces, E.164's digits. */
function factorPhone(phone: string): string {
  const digits = phone.replace(/^\+/u, '').replaceAll(' ', '');
  if (!/^[1-9]\d{1,14}$/u.test(digits))
    throw new AuthError('validation_failed', 'Invalid phone number format (E.164 required)');
  return digits;
}
