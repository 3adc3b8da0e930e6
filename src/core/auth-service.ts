import { Credentials } from './auth-credentials.js';
import { OwnAccount } from './auth-own-account.js';
import { PasswordReset } from './auth-password-reset.js';
import { PasswordSignIn } from './auth-password-sign-in.js';
import { SessionIssuer } from './auth-session-issuer.js';
import { SessionRenewal } from './auth-session-renewal.js';
import { AccountCreation } from './auth-sign-up.js';
import { TokenChecks } from './auth-token-checks.js';
import type { AuthDeps } from './auth-types.js';

export type {
  AuthDeps,
  CheckResult,
  ExtraClaims,
  IssuedAccessToken,
  IssuedSession,
  SignOutScope,
  SignUpInput,
} from './auth-types.js';

/**
 * The auth use cases. Every rule (password policy, enumeration-safe answers,
 * reuse detection, revocation) lives here once; dialects only translate.
 *
 * The one object the dialects call: each use case is its part's (auth-*.ts, one concern each), and
 * every part that answers a session has it opened and signed by the one SessionIssuer.
 */
export class AuthService {
  private readonly issuer: SessionIssuer;
  private readonly credentials: Credentials;
  private readonly accounts: AccountCreation;
  private readonly passwordSignIn: PasswordSignIn;
  private readonly tokenChecks: TokenChecks;
  private readonly renewal: SessionRenewal;
  private readonly ownAccount: OwnAccount;
  private readonly reset: PasswordReset;

  constructor(deps: AuthDeps) {
    this.issuer = new SessionIssuer(deps);
    this.credentials = new Credentials(deps);
    this.accounts = new AccountCreation(deps, this.issuer);
    this.passwordSignIn = new PasswordSignIn(deps, this.issuer, this.credentials);
    this.tokenChecks = new TokenChecks(deps);
    this.renewal = new SessionRenewal(deps, this.issuer);
    this.ownAccount = new OwnAccount(deps, this.issuer, this.credentials);
    this.reset = new PasswordReset(deps, this.issuer, this.credentials);
  }

  // Accounts made (auth-sign-up.ts).
  signUp(...args: Parameters<AccountCreation['signUp']>): ReturnType<AccountCreation['signUp']> {
    return this.accounts.signUp(...args);
  }

  signUpConfirmed(
    ...args: Parameters<AccountCreation['signUpConfirmed']>
  ): ReturnType<AccountCreation['signUpConfirmed']> {
    return this.accounts.signUpConfirmed(...args);
  }

  signUpAnonymously(
    ...args: Parameters<AccountCreation['signUpAnonymously']>
  ): ReturnType<AccountCreation['signUpAnonymously']> {
    return this.accounts.signUpAnonymously(...args);
  }

  register(...args: Parameters<AccountCreation['register']>): ReturnType<AccountCreation['register']> {
    return this.accounts.register(...args);
  }

  registerToConfirm(
    ...args: Parameters<AccountCreation['registerToConfirm']>
  ): ReturnType<AccountCreation['registerToConfirm']> {
    return this.accounts.registerToConfirm(...args);
  }

  assertUsernameFormat(
    ...args: Parameters<AccountCreation['assertUsernameFormat']>
  ): ReturnType<AccountCreation['assertUsernameFormat']> {
    return this.accounts.assertUsernameFormat(...args);
  }

  // Sessions opened for a proven user, and the rules that refuse one (auth-session-issuer.ts).
  startSession(
    ...args: Parameters<SessionIssuer['startSession']>
  ): ReturnType<SessionIssuer['startSession']> {
    return this.issuer.startSession(...args);
  }

  assertMayStartSession(
    ...args: Parameters<SessionIssuer['assertMayStartSession']>
  ): ReturnType<SessionIssuer['assertMayStartSession']> {
    return this.issuer.assertMayStartSession(...args);
  }

  mustConfirm(...args: Parameters<SessionIssuer['mustConfirm']>): ReturnType<SessionIssuer['mustConfirm']> {
    return this.issuer.mustConfirm(...args);
  }

  assertNotBanned(
    ...args: Parameters<SessionIssuer['assertNotBanned']>
  ): ReturnType<SessionIssuer['assertNotBanned']> {
    return this.issuer.assertNotBanned(...args);
  }

  // Password sign-ins and credentials proven (auth-password-sign-in.ts, auth-credentials.ts).
  signIn(...args: Parameters<PasswordSignIn['signIn']>): ReturnType<PasswordSignIn['signIn']> {
    return this.passwordSignIn.signIn(...args);
  }

  findByLogin(...args: Parameters<Credentials['findByLogin']>): ReturnType<Credentials['findByLogin']> {
    return this.credentials.findByLogin(...args);
  }

  // Access tokens checked (auth-token-checks.ts).
  check(...args: Parameters<TokenChecks['check']>): ReturnType<TokenChecks['check']> {
    return this.tokenChecks.check(...args);
  }

  checkWithFactors(
    ...args: Parameters<TokenChecks['checkWithFactors']>
  ): ReturnType<TokenChecks['checkWithFactors']> {
    return this.tokenChecks.checkWithFactors(...args);
  }

  authorize(...args: Parameters<TokenChecks['authorize']>): ReturnType<TokenChecks['authorize']> {
    return this.tokenChecks.authorize(...args);
  }

  authorizeCaller(
    ...args: Parameters<TokenChecks['authorizeCaller']>
  ): ReturnType<TokenChecks['authorizeCaller']> {
    return this.tokenChecks.authorizeCaller(...args);
  }

  // Sessions kept or ended (auth-session-renewal.ts).
  refresh(...args: Parameters<SessionRenewal['refresh']>): ReturnType<SessionRenewal['refresh']> {
    return this.renewal.refresh(...args);
  }

  reissue(...args: Parameters<SessionRenewal['reissue']>): ReturnType<SessionRenewal['reissue']> {
    return this.renewal.reissue(...args);
  }

  signOut(...args: Parameters<SessionRenewal['signOut']>): ReturnType<SessionRenewal['signOut']> {
    return this.renewal.signOut(...args);
  }

  signOutByRefreshToken(
    ...args: Parameters<SessionRenewal['signOutByRefreshToken']>
  ): ReturnType<SessionRenewal['signOutByRefreshToken']> {
    return this.renewal.signOutByRefreshToken(...args);
  }

  // A user's changes to their own account (auth-own-account.ts).
  changePassword(
    ...args: Parameters<OwnAccount['changePassword']>
  ): ReturnType<OwnAccount['changePassword']> {
    return this.ownAccount.changePassword(...args);
  }

  updateOwnAccount(
    ...args: Parameters<OwnAccount['updateOwnAccount']>
  ): ReturnType<OwnAccount['updateOwnAccount']> {
    return this.ownAccount.updateOwnAccount(...args);
  }

  changePasswordWithCurrent(
    ...args: Parameters<OwnAccount['changePasswordWithCurrent']>
  ): ReturnType<OwnAccount['changePasswordWithCurrent']> {
    return this.ownAccount.changePasswordWithCurrent(...args);
  }

  changeEmail(...args: Parameters<OwnAccount['changeEmail']>): ReturnType<OwnAccount['changeEmail']> {
    return this.ownAccount.changeEmail(...args);
  }

  // Forgotten passwords and user names (auth-password-reset.ts).
  requestPasswordReset(
    ...args: Parameters<PasswordReset['requestPasswordReset']>
  ): ReturnType<PasswordReset['requestPasswordReset']> {
    return this.reset.requestPasswordReset(...args);
  }

  resetPassword(
    ...args: Parameters<PasswordReset['resetPassword']>
  ): ReturnType<PasswordReset['resetPassword']> {
    return this.reset.resetPassword(...args);
  }

  remindUsername(
    ...args: Parameters<PasswordReset['remindUsername']>
  ): ReturnType<PasswordReset['remindUsername']> {
    return this.reset.remindUsername(...args);
  }
}
