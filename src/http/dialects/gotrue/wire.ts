import type { ExtraClaims, IssuedSession } from '../../../core/auth-service.js';
import type { AuthError, ErrorCode } from '../../../core/errors.js';
import type { Identity, User } from '../../../core/ports/store.js';
import { appMetadataJson, identityJson } from './identity-wire.js';

/**
 * GoTrue's (Supabase Auth's) wire shapes: the user object, the session
 * answer, the error body, and the claims of its access tokens, as
 * @supabase/auth-js reads them.
 */

const AUDIENCE = 'authenticated';

export interface UserJsonExtras {
  /** The address an email change waits to confirm. */
  newEmail?: string | null;
  confirmationSentAt?: Date | null;
  /** The user's identities (Identities.of): listed, and app_metadata's providers made from them. */
  identities?: readonly Identity[];
}

export function userJson(user: User, authenticatedRole: string, extras: UserJsonExtras = {}) {
  return {
    id: user.id,
    aud: AUDIENCE,
    role: user.role ?? authenticatedRole,
    email: user.email ?? '',
    email_confirmed_at: iso(user.emailConfirmedAt),
    phone: '',
    confirmed_at: iso(user.emailConfirmedAt),
    ...(extras.confirmationSentAt ? { confirmation_sent_at: iso(extras.confirmationSentAt) } : {}),
    ...(extras.newEmail ? { new_email: extras.newEmail } : {}),
    last_sign_in_at: iso(user.lastSignInAt),
    // GoTrue's banned_until is omitempty: present only while a ban is set.
    ...(user.bannedUntil ? { banned_until: iso(user.bannedUntil) } : {}),
    app_metadata: appMetadataJson(user, extras.identities ?? null),
    // The account's user name last: the user's own data (a `username` key in it) never shows as it.
    user_metadata: user.username === null ? user.profile : { ...user.profile, username: user.username },
    identities: (extras.identities ?? []).map(identityJson),
    created_at: iso(user.createdAt),
    updated_at: iso(user.updatedAt),
    is_anonymous: user.isAnonymous,
  };
}

export function sessionJson(
  issued: IssuedSession,
  authenticatedRole: string,
  identities: readonly Identity[] = [],
) {
  return {
    access_token: issued.accessToken,
    token_type: 'bearer',
    expires_in: issued.expiresIn,
    expires_at: issued.expiresAt,
    refresh_token: issued.refreshToken,
    user: userJson(issued.user, authenticatedRole, { identities }),
  };
}

/** The claims GoTrue puts in its access tokens, which apps and RLS policies read. */
export const gotrueClaims: ExtraClaims = (user) => ({
  email: user.email ?? '',
  phone: '',
  app_metadata: appMetadataJson(user, null),
  user_metadata: user.profile,
  aal: 'aal1',
  is_anonymous: user.isAnonymous,
});

/** restauth's codes that GoTrue names or answers differently. */
const GOTRUE_ERRORS: Partial<Record<ErrorCode, { status: number; code: string }>> = {
  refresh_token_reused: { status: 400, code: 'refresh_token_already_used' },
  session_not_found: { status: 403, code: 'session_not_found' },
  session_expired: { status: 403, code: 'session_expired' },
  bad_jwt: { status: 403, code: 'bad_jwt' },
  token_expired: { status: 403, code: 'bad_jwt' },
  token_revoked: { status: 403, code: 'bad_jwt' },
  not_admin: { status: 403, code: 'not_admin' },
  invalid_json: { status: 400, code: 'bad_json' },
};

/** GoTrue's error body: `code` (the status), `error_code`, `msg`; weak passwords say why. */
export function errorJson(error: AuthError) {
  const mapped = GOTRUE_ERRORS[error.code] ?? { status: error.status, code: error.code };
  return {
    status: mapped.status,
    body: {
      code: mapped.status,
      error_code: mapped.code,
      msg: error.message,
      ...(error.code === 'weak_password'
        ? { weak_password: { reasons: [/at least/u.test(error.message) ? 'length' : 'characters'] } }
        : {}),
    },
  };
}

function iso(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}
