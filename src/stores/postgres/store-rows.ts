import { AuthError } from '../../core/errors.js';
import type {
  AuditEvent,
  FoundRefreshToken,
  Identity,
  OneTimeToken,
  Session,
  User,
} from '../../core/ports/store.js';
import { SERVER_KEY_CHAIN } from './session-sql.js';
import { jsonObject, rowDate, unsetTime, type RowTimestamp } from './row-values.js';

/* The PostgreSQL store's rows: the columns its statements select, and the records core reads from them. */

export interface UserRow {
  id: string;
  username: string | null;
  email: string | null;
  email_confirmed_at: RowTimestamp;
  role: string | null;
  token_count: number;
  profile: unknown;
  app_metadata: unknown;
  created_at: RowTimestamp;
  updated_at: RowTimestamp;
  last_sign_in_at: RowTimestamp;
  banned_until: RowTimestamp;
  is_anonymous: boolean;
  aud: string | null;
  invited_at: RowTimestamp;
}

export interface IdentityRow {
  id: string;
  user_id: string;
  provider: string;
  provider_id: string;
  identity_data: unknown;
  email: string | null;
  last_sign_in_at: RowTimestamp;
  created_at: RowTimestamp;
  updated_at: RowTimestamp;
}

export interface SessionRow {
  id: string;
  user_id: string;
  created_at: RowTimestamp;
  refreshed_at: RowTimestamp;
  not_after: RowTimestamp;
  revoked_at: RowTimestamp;
  revoked_reason: string | null;
  refresh_secret: string;
  /** restauth.session_secrets.chain (SESSION_SECRET_CHAIN or SERVER_KEY_CHAIN). */
  chain: number;
  /** liveSessionAmr's JSON: dates as strings. */
  amr: { method: string; at: string }[];
}

export interface OneTimeTokenRow {
  hash: string;
  code_hash: string | null;
  recipient: string | null;
  user_id: string;
  purpose: string;
  created_at: Date;
  expires_at: Date;
  data: Record<string, unknown>;
}

export interface AuditRow {
  id: string;
  at: Date;
  action: string;
  actor_id: string | null;
  user_id: string | null;
  ip: string | null;
  data: Record<string, unknown>;
}

/**
 * A user is a row of GoTrue's `auth.users` `u` (migration 14: its uuid id is the user's id) and its
 * account `a` in restauth's schema (the user name, the token count, and the integer `id` the other
 * tables reference), joined on `a.uid = u.id`. Sessions, refresh tokens and one-time tokens name
 * their user by GoTrue's uuid (migrations 17 and 21). GoTrue's `role` is the token's role claim: the
 * authenticated role there is restauth's "no role of its own" (null).
 */
export function userColumns(authenticatedLiteral: string): string {
  return `u.id::text AS id, a.username, u.email, u.email_confirmed_at,
    nullif(u.role, ${authenticatedLiteral}) AS role, a.token_count,
    coalesce(u.raw_user_meta_data, '{}') AS profile, coalesce(u.raw_app_meta_data, '{}') AS app_metadata,
    u.created_at, u.updated_at, u.last_sign_in_at, u.banned_until, u.is_anonymous, u.aud, u.invited_at`;
}
/** An identity row `i`, as GoTrue keeps it (email: its generated column). */
export const IDENTITY_COLUMNS = `i.id::text AS id, i.user_id::text AS user_id, i.provider, i.provider_id, i.identity_data,
  i.email, i.last_sign_in_at, i.created_at, i.updated_at`;
/** A one-time token `t` of restauth.code_tokens. */
export const ONE_TIME_TOKEN_COLUMNS = `t.hash, t.code_hash, t.recipient, t.user_id::text AS user_id, t.purpose, t.created_at,
  t.expires_at, t.data`;
export const AUDIT_COLUMNS = `id, at, action, actor_id, user_id, ip, data`;

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    role: row.role,
    tokenVersion: row.token_count,
    profile: jsonObject(row.profile),
    appMetadata: jsonObject(row.app_metadata),
    createdAt: rowDate(row.created_at) ?? unsetTime(),
    updatedAt: rowDate(row.updated_at) ?? unsetTime(),
    emailConfirmedAt: rowDate(row.email_confirmed_at),
    lastSignInAt: rowDate(row.last_sign_in_at),
    bannedUntil: rowDate(row.banned_until),
    isAnonymous: row.is_anonymous,
    aud: row.aud,
    invitedAt: rowDate(row.invited_at),
  };
}

export function toIdentity(row: IdentityRow): Identity {
  return {
    id: row.id,
    userId: row.user_id,
    provider: row.provider,
    providerId: row.provider_id,
    identityData: jsonObject(row.identity_data),
    email: row.email,
    lastSignInAt: rowDate(row.last_sign_in_at),
    createdAt: rowDate(row.created_at) ?? unsetTime(),
    updatedAt: rowDate(row.updated_at) ?? unsetTime(),
  };
}

export function toOneTimeToken(row: OneTimeTokenRow): OneTimeToken {
  return {
    hash: row.hash,
    codeHash: row.code_hash,
    recipient: row.recipient,
    userId: row.user_id,
    purpose: row.purpose,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    data: row.data,
  };
}

export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    at: row.at,
    action: row.action,
    actorId: row.actor_id,
    userId: row.user_id,
    ip: row.ip,
    data: row.data,
  };
}

/** A row of refreshTokenLookupSql: the token, its session's columns, its user as JSON. */
export type FoundTokenRow = SessionRow & {
  hash: string;
  token_created_at: RowTimestamp;
  rotated_at: RowTimestamp;
  user_row: UserRow | null;
  mfa_guarded: boolean;
  /** The refresh statements' (refreshedIdentitiesOf); the lookup has none. */
  identities?: RefreshedIdentityJson[];
};

/** An identity as refreshedIdentitiesOf gives it: IdentityRow in JSON, its user the found row's. */
export type RefreshedIdentityJson = Omit<
  IdentityRow,
  'user_id' | 'last_sign_in_at' | 'created_at' | 'updated_at'
> & {
  last_sign_in_at: string | null;
  created_at: string | null;
  updated_at: string | null;
};

export function toFoundToken(row: FoundTokenRow): FoundRefreshToken {
  const userId = row.user_id;
  return {
    token: {
      hash: row.hash,
      sessionId: row.id,
      createdAt: rowDate(row.token_created_at) ?? unsetTime(),
      rotatedAt: rowDate(row.rotated_at),
    },
    session: toSession(row),
    // From to_jsonb: its timestamps are strings, which toUser reads as the columns.
    user: row.user_row ? toUser(row.user_row) : null,
    userHasVerifiedFactor: row.mfa_guarded,
    identities: row.identities?.map((identity) =>
      toIdentity({
        ...identity,
        user_id: userId,
        last_sign_in_at: rowDate(identity.last_sign_in_at),
        created_at: rowDate(identity.created_at),
        updated_at: rowDate(identity.updated_at),
      }),
    ),
  };
}

export function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: rowDate(row.created_at) ?? unsetTime(),
    refreshedAt: rowDate(row.refreshed_at) ?? unsetTime(),
    // Never NULL (coalesced to NO_TIME_BOX); 'infinity' a DBA may write reads as the last date.
    notAfter: rowDate(row.not_after) ?? unsetTime(),
    revokedAt: rowDate(row.revoked_at),
    revokedReason: row.revoked_reason,
    refreshSecret: row.refresh_secret,
    chain: row.chain === SERVER_KEY_CHAIN ? 'server-key' : 'session-secret',
    amr: row.amr.map((claim) => ({ method: claim.method, at: rowDate(claim.at) ?? unsetTime() })),
  };
}

/** Unique violations become the registry's codes. */
export function conflict(error: unknown): never {
  const pgError = error as { code?: string; constraint?: string };
  if (pgError.code === '23505') {
    throw new AuthError(pgError.constraint?.includes('email') ? 'email_exists' : 'user_already_exists');
  }
  throw error;
}
