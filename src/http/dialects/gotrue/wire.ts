import type { ExtraClaims, IssuedSession } from '../../../core/auth-service.js';
import type { VerifyType } from '../../../core/email-flows.js';
import type { AmrClaim, Identity, MfaFactor, Session, User } from '../../../core/ports/store.js';
import { appMetadataJson, identityJson } from './identity-wire.js';

/**
 * GoTrue's (Supabase Auth's) wire shapes: the user object, the session
 * answer and the claims of its access tokens, as @supabase/auth-js reads
 * them (its errors are in errors.ts).
 */

/** What every user object depends on beyond the user: the configured role and audience. */
export interface UserWire {
  /** The `role` of a user without a database role of its own. */
  authenticatedRole: string;
  /** The JWT audience (jwt.audience, default authenticated): the `aud` of a user whose store keeps none. */
  audience: string;
}

export interface UserJsonExtras {
  /** The address an email change waits to confirm. */
  newEmail?: string | null;
  confirmationSentAt?: Date | null;
  /** The user's identities (Identities.of), listed. */
  identities?: readonly Identity[];
  /** The user's MFA factors (GoTrue's `factors`, omitempty: shown only when there are some). */
  factors?: readonly MfaFactor[];
}

export function userJson(user: User, wire: UserWire, extras: UserJsonExtras = {}) {
  return {
    id: user.id,
    // GoTrue answers the user's own aud column, written from the audience it signed up under.
    aud: user.aud ?? wire.audience,
    role: user.role ?? wire.authenticatedRole,
    email: user.email ?? '',
    email_confirmed_at: iso(user.emailConfirmedAt),
    // omitempty in GoTrue's user: present once an administrator invited the user.
    ...(user.invitedAt ? { invited_at: iso(user.invitedAt) } : {}),
    phone: '',
    confirmed_at: iso(user.emailConfirmedAt),
    ...(extras.confirmationSentAt ? { confirmation_sent_at: iso(extras.confirmationSentAt) } : {}),
    ...(extras.newEmail ? { new_email: extras.newEmail } : {}),
    last_sign_in_at: iso(user.lastSignInAt),
    // GoTrue's banned_until is omitempty: present only while a ban is set.
    ...(user.bannedUntil ? { banned_until: iso(user.bannedUntil) } : {}),
    app_metadata: appMetadataJson(user),
    user_metadata: userMetadataJson(user),
    identities: (extras.identities ?? []).map(identityJson),
    created_at: iso(user.createdAt),
    updated_at: iso(user.updatedAt),
    is_anonymous: user.isAnonymous,
    ...(extras.factors?.length ? { factors: extras.factors.map(factorJson) } : {}),
  };
}

/** A factor as GoTrue's models.Factor marshals it: no secret, friendly_name left out when empty. */
export function factorJson(factor: MfaFactor): Record<string, unknown> {
  return {
    id: factor.id,
    created_at: factor.createdAt.toISOString(),
    updated_at: factor.updatedAt.toISOString(),
    status: factor.status,
    ...(factor.friendlyName ? { friendly_name: factor.friendlyName } : {}),
    factor_type: factor.factorType,
    phone: factor.phone ?? '',
    last_challenged_at: factor.lastChallengedAt?.toISOString() ?? null,
  };
}

export function sessionJson(issued: IssuedSession, wire: UserWire, identities: readonly Identity[] = []) {
  return {
    access_token: issued.accessToken,
    token_type: 'bearer',
    expires_in: issued.expiresIn,
    expires_at: issued.expiresAt,
    refresh_token: issued.refreshToken,
    user: userJson(issued.user, wire, { identities }),
  };
}

/** GoTrue's names of how a session was opened (internal/models/factor.go), for the `amr` claim. */
export type AuthMethod =
  | 'password'
  | 'otp'
  | 'magiclink'
  | 'recovery'
  | 'invite'
  | 'email/signup'
  | 'email_change'
  | 'token_refresh'
  | 'anonymous'
  | 'oauth';

/** How a verified link or code opened its session, as GoTrue names it: a code is an OTP whatever its type. */
export function verifiedMethod(type: VerifyType, secret: 'link' | 'code'): AuthMethod {
  if (secret === 'code') return 'otp';
  return VERIFIED_METHODS[type];
}

const VERIFIED_METHODS: Record<VerifyType, AuthMethod> = {
  signup: 'email/signup',
  email: 'otp',
  invite: 'invite',
  magiclink: 'magiclink',
  recovery: 'recovery',
  email_change: 'email_change',
};

/**
 * The claims GoTrue puts in its access tokens, which apps and RLS policies read (sub, role and
 * session_id come from core; iss from jwt.issuer when set, as GoTrue's JWT_ISSUER). `method` is how a
 * session this opens was authenticated (AuthMethod, or a PKCE flow's GoTrue authentication method),
 * which the session keeps: `amr` lists the session's claims (Session.amr), most recent first as
 * GoTrue's CalculateAALAndAMR orders them, so a refreshed token states how the session began, as
 * GoTrue's does (a refresh opens nothing: its `method` is not recorded).
 */
// `string & {}`: a PKCE flow's stored method (GoTrue's flow_state.authentication_method) passes as it is.
export function gotrueClaims(audience: string, method: AuthMethod | (string & {})): ExtraClaims {
  const claims = (user: User, session: Session) => ({
    // GoTrue's: the user's own audience (auth.users.aud, what it signed up under), so a user another
    // audience made gets no token for this one (restauth's verification and PostgREST's jwt-aud refuse
    // it); a store keeping none (the file store) has the configured one for every user.
    aud: user.aud ?? audience,
    email: user.email ?? '',
    phone: '',
    app_metadata: appMetadataJson(user),
    user_metadata: userMetadataJson(user),
    aal: 'aal1',
    amr: amrJson(session.amr),
    is_anonymous: user.isAnonymous,
  });
  return Object.assign(claims, { authMethod: method });
}

/**
 * user_metadata, in the user object and the access token alike: the account's user name last, so the
 * user's own data (a `username` key in it) never shows as it.
 */
function userMetadataJson(user: User): Record<string, unknown> {
  return user.username === null ? user.profile : { ...user.profile, username: user.username };
}

/** GoTrue's amr claim: each method with its Unix time, most recent first. */
function amrJson(amr: readonly AmrClaim[]): { method: string; timestamp: number }[] {
  return amr
    .map((claim) => ({ method: claim.method, timestamp: Math.floor(claim.at.getTime() / 1000) }))
    .sort((a, b) => b.timestamp - a.timestamp);
}

function iso(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}
