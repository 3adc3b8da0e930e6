import type { AuditLog, Client } from '../audit.js';
import type { EmailFlows } from '../email-flows.js';
import { assertNotBanned } from '../banned.js';
import { AuthError, isAuthError } from '../errors.js';
import { checkEmail } from '../identity.js';
import { withProviders } from '../identities.js';
import { endUnprovenHold } from '../unvouched-eviction.js';
import type { PkceFlows } from '../flow-states.js';
import type { PasswordHasher } from '../passwords.js';
import type { Store, User } from '../ports/store.js';
import { updateMerged } from '../merged-update.js';
import { identityDataOf } from './identity-data.js';
import type { ProviderClaims } from './provider.js';

export interface ExternalSignInDeps {
  store: Store;
  /** The PKCE flows, which end with the sessions of an account's earlier holder (join). */
  pkce: Pick<PkceFlows, 'endFlowsOf'>;
  hasher: PasswordHasher;
  emailFlows: EmailFlows;
  audit?: AuditLog;
  clock: () => Date;
  settings: {
    signupEnabled: boolean;
    /** New addresses confirm before signing in (an unverified provider address gets the mail). */
    requireEmailConfirmation: boolean;
  };
}

/** Who signs in, and with what the provider said. */
export interface ExternalSignInInput {
  provider: string;
  claims: ProviderClaims;
  /** The provider's issuer, kept in identity_data as `iss` (OIDC), or null. */
  issuer: string | null;
  /** The provider may give no address (GoTrue's email_optional). */
  emailOptional: boolean;
  /** Where a confirmation mail's link leads (an unverified address). */
  redirectTo: string | null;
}

/**
 * Signing in with a provider's user, as GoTrue decides it (models.DetermineAccountLinking):
 *
 * - the provider's identity (provider, subject) known: its user;
 * - else an address the provider says it verified, of an existing user: that user, the identity
 *   linked to it. An unconfirmed account (someone may have registered the address with a
 *   password of their choosing) is confirmed and its password and sessions retired, as GoTrue's
 *   RemoveUnconfirmedIdentities: its other identities go and its user_metadata is the provider's,
 *   so a squatter keeps no way in;
 * - else a new user (signups allowed), with the address unless another user has it. An address
 *   the provider did not verify never joins an existing account (GoTrue joins one under
 *   MAILER_AUTOCONFIRM; restauth does not: the provider's word is all there is).
 *
 * A banned user is refused; one whose address still needs confirming gets the mail and
 * provider_email_needs_verification.
 */
export class ExternalSignIn {
  constructor(private readonly deps: ExternalSignInDeps) {}

  async signIn(client: Client, input: ExternalSignInInput): Promise<User> {
    const { provider, claims } = input;
    const now = this.deps.clock();
    const email = claims.email === null ? null : this.address(claims.email);
    if (email === null && !input.emailOptional) {
      throw new AuthError('unexpected_failure', 'Error getting user email from external provider', {
        status: 500,
      });
    }
    const identityData = identityDataOf(claims, input.issuer);
    const store = this.deps.store;
    let user = await this.existingUser(provider, claims.subject);
    let unconfirmed = false;
    let joined = false;
    if (user === null && email !== null && claims.emailVerified) {
      user = await store.findUserByEmail(email);
      // Before join's writes (an identity linked, an unconfirmed account's credentials retired).
      if (user !== null) assertNotBanned(user, now);
      if (user !== null) ({ user, unconfirmed } = await this.join(client, user, email, provider, now));
      joined = user !== null;
    }
    // Before the identity's data is written into the account.
    if (user !== null) assertNotBanned(user, now);
    let created = false;
    if (user === null) ({ user, created } = await this.signUp(client, input, email, identityData, now));
    // A new account has its identity from its sign-up's commit (see signUp).
    if (!created) {
      const identity = await store.linkIdentity({
        userId: user.id,
        provider,
        providerId: claims.subject,
        identityData,
        now,
      });
      // An unconfirmed account keeps nothing its first holder set up (GoTrue's RemoveUnconfirmedIdentities):
      // its other identities go (the `email` one, which listed `email` among its providers, and any
      // provider the squatter linked, which would still sign the squatter in), and its user_metadata
      // is the provider's alone. Elsewhere GoTrue merges what the provider says at every sign-in.
      if (unconfirmed) await store.keepOnlyIdentity(user.id, identity.id);
      else if (joined && email !== null && !this.deps.settings.requireEmailConfirmation) {
        // Confirmed without proof: the earlier holder's password, sessions, codes and identities go
        // (unvouched-eviction.ts), had it a password or an identity or not (an anonymous squatter
        // has neither). This callback's own flow names no user yet, and its verified identity,
        // linked above, vouches for the address: nothing the prover holds goes.
        await endUnprovenHold(this.deps, user.id, email, now, {
          keptFlowId: null,
          password: 'retire',
          identities: 'unvouched',
          addressIdentityFirst: false,
        });
      }
    }
    user = await updateMerged(
      store,
      user,
      (current) => ({ profile: unconfirmed ? identityData : { ...current.profile, ...identityData } }),
      { unlessBannedAt: now },
    );
    if (
      this.deps.settings.requireEmailConfirmation &&
      user.email !== null &&
      user.emailConfirmedAt === null
    ) {
      await this.deps.emailFlows.sendConfirmation(user, input.redirectTo);
      throw new AuthError(
        'provider_email_needs_verification',
        `Unverified email with ${provider}. A confirmation email has been sent to your ${provider} email`,
      );
    }
    return user;
  }

  private async existingUser(provider: string, subject: string): Promise<User | null> {
    const identity = await this.deps.store.findIdentity(provider, subject);
    return identity === null ? null : this.deps.store.findUserById(identity.userId);
  }

  /**
   * A verified address joins its account; an unconfirmed one is confirmed, once what its holder set
   * up is retired (password, sessions, PKCE flows: endUnprovenHold; its identities and metadata once
   * the provider's identity is linked: see signIn). Before the confirmation: confirmed first, the
   * holder's password signed in to the account for as long as the retirement took. A confirmed
   * account where sign-ups are confirmed at once proves nothing either (whoever typed the address
   * first got it): signIn retires its holder's hold after the link.
   */
  private async join(
    client: Client,
    user: User,
    email: string,
    provider: string,
    now: Date,
  ): Promise<{ user: User; unconfirmed: boolean }> {
    // GoTrue's !user.IsConfirmed(): only such an account loses its identities and metadata too.
    const unconfirmed = user.emailConfirmedAt === null;
    if (unconfirmed) {
      // This callback's own flow is no one's yet: its code names the user only once this sign-in returns.
      await endUnprovenHold(this.deps, user.id, email, now, {
        keptFlowId: null,
        password: 'retire',
        identities: 'kept',
        addressIdentityFirst: false,
      });
      user = await this.deps.store.updateUser(user.id, { emailConfirmedAt: now });
    }
    await this.deps.audit?.record('identity_linked', client, { userId: user.id, data: { provider } });
    return { user, unconfirmed };
  }

  /**
   * A new account with its provider identity, in one commit (SignUpWrites.identity): written apart,
   * a failure between the two left an account its provider could not sign in to, whose address the
   * next callback found taken (a verified one joined it; an unverified one made a second account).
   * When a racing callback of the same provider user signed up first, this one signs that account in.
   */
  private async signUp(
    client: Client,
    input: ExternalSignInInput,
    email: string | null,
    identityData: Record<string, unknown>,
    now: Date,
  ): Promise<{ user: User; created: boolean }> {
    try {
      return { user: await this.createUser(client, input, email, identityData, now), created: true };
    } catch (error) {
      // A racing sign-up holds the identity (or, committed first, the address): when it is this
      // provider user's, this callback signs that account in.
      if (!isAuthError(error) || (error.code !== 'identity_already_exists' && error.code !== 'email_exists'))
        throw error;
      const winner = await this.existingUser(input.provider, input.claims.subject);
      if (winner === null) throw error;
      assertNotBanned(winner, now);
      return { user: winner, created: false };
    }
  }

  private async createUser(
    client: Client,
    input: ExternalSignInInput,
    email: string | null,
    identityData: Record<string, unknown>,
    now: Date,
  ): Promise<User> {
    if (!this.deps.settings.signupEnabled) throw new AuthError('signup_disabled');
    // An unverified address that is someone's: a new user without it, as GoTrue's.
    const address = email !== null && (await this.deps.store.findUserByEmail(email)) === null ? email : null;
    const confirmed = input.claims.emailVerified || !this.deps.settings.requireEmailConfirmation;
    const user = await this.deps.store.createUser(
      {
        username: null,
        email: address,
        emailConfirmedAt: address !== null && confirmed ? now : null,
        role: null,
        profile: identityData,
        // GoTrue's sign-up provider: the one signed up with, not `email`.
        appMetadata: withProviders({}, [input.provider]),
        // Only the provider's identity (linked next), as GoTrue's createAccountFromExternalIdentity.
        emailIdentity: false,
      },
      null,
      { identity: { provider: input.provider, providerId: input.claims.subject, identityData, now } },
    );
    await this.deps.audit?.record('sign_up', client, { userId: user.id, data: { provider: input.provider } });
    return user;
  }

  /** The provider's address in its login-key form; one restauth cannot take counts as none. */
  private address(email: string): string | null {
    try {
      return checkEmail(email);
    } catch (error) {
      if (isAuthError(error)) return null;
      throw error;
    }
  }
}
