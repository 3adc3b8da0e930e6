import type { Notifier } from './notifier.js';
import type { PasswordHasher } from './passwords.js';
import type { PkceChallenge } from './pkce.js';
import type { SessionManager } from './sessions.js';
import type { Identity, Session, Store, User } from './ports/store.js';
import type { AccessClaims, TokenService } from './tokens.js';
import type { AccountGuessLimit } from './account-guess-limit.js';
import type { AuditLog } from './audit.js';
import type { BackgroundWork } from './background.js';
import type { EmailFlows } from './email-flows.js';
import type { PkceFlows } from './flow-states.js';
import type { AuthEvents } from './ports/events.js';

export interface AuthSettings {
  /** A user name must match this (json-data-server's userIdRE). */
  usernamePattern: string;
  /** The `role` claim of ordinary users (PostgREST's authenticated role). */
  authenticatedRole: string;
  /** postgrest-auth's role per user: the `role` claim names the user's own database role. */
  rolePerUser: boolean;
  /**
   * Roles no user's own role may be named (compared without case): the anonymous, authenticated and
   * service roles and PostgREST's login role, which every token consumer's policies trust by name.
   */
  reservedRoles?: readonly string[];
  /** An account with an unconfirmed email address may not sign in. */
  requireEmailConfirmation?: boolean;
  /**
   * A password change through the user's own session (GoTrue's PUT /user) needs a mailed code when the
   * session is older than REAUTHENTICATION_WINDOW (GoTrue's update_password_require_reauthentication).
   */
  passwordChangeRequiresReauthentication?: boolean;
  /** Most bytes of JSON a user's data may grow to by updates (bodyLimit; see mergeMetadata). */
  maxUserDataBytes: number;
}

export interface AuthDeps {
  store: Store;
  hasher: PasswordHasher;
  tokens: TokenService;
  sessions: SessionManager;
  settings: AuthSettings;
  notifier?: Notifier;
  /** Where security events go; none: not recorded. */
  audit?: AuditLog;
  /** Sends the confirmation mail of a sign-up that must confirm its address, and starts email changes. */
  emailFlows: EmailFlows;
  /** The PKCE flows, which a password change ends (replacePassword). */
  pkce: PkceFlows;
  clock?: () => Date;
  /** Runs the work done after the answer (mail for an existing account), reporting its failures. */
  background: BackgroundWork;
  /** Hears of sign-ins and refresh-token reuse (metrics); none: nobody listens. */
  events?: AuthEvents;
  /** Wrong passwords allowed per account from every client and dialect together (off: rule.max 0). */
  passwordGuesses: AccountGuessLimit;
}

/** An access token alone, for a session that goes on (postgrest-auth's bearer refresh). */
export interface IssuedAccessToken {
  accessToken: string;
  expiresIn: number;
  expiresAt: number;
  claims: AccessClaims;
}

/** What a successful sign-up, sign-in or refresh hands the client. */
export interface IssuedSession extends IssuedAccessToken {
  user: User;
  session: Session;
  refreshToken: string;
  /** The user's identities, when the store read them with a refreshed token (Rotated.identities). */
  identities?: Identity[];
}

/**
 * Claims a dialect adds to an access token, from its user and session (postgrest-auth's `payload` and
 * `count`, GoTrue's `email`, `amr` ...). `authMethod`, when set, is how the dialect names the way a
 * session it opens was authenticated (GoTrue's amr method: 'otp', 'magiclink' ...): the session keeps
 * it (Session.amr). Unset, the use case's own word stands ('password' for a password sign-in).
 */
export type ExtraClaims = ((user: User, session: Session) => Record<string, unknown>) & {
  readonly authMethod?: string;
};

/** The method a session opened by a use case records: the dialect's word for it, else the use case's. */
export function authMethodOf(extraClaims: ExtraClaims | undefined, fallback: string): string {
  return extraClaims?.authMethod ?? fallback;
}

export interface SignUpInput {
  username?: string | null;
  email?: string | null;
  password: string;
  profile?: Record<string, unknown>;
  emailConfirmed?: boolean;
  /** Where the confirmation link leads after confirming (already checked against the allow-list). */
  redirectTo?: string | null;
  /** false: no welcome or confirmation mail (an admin generating the link sends it). */
  sendMail?: boolean;
  /** The client's PKCE challenge: the confirmation link then ends a PKCE flow (see PkceFlows). */
  pkce?: PkceChallenge | null;
}

export interface CheckResult {
  claims: AccessClaims;
  user: User;
  session: Session;
}

export type SignOutScope = 'local' | 'global' | 'others';
