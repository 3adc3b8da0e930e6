import { isIdentityField, isSecretField } from '../../lib/identity-fields.js';
import { isPlainObject } from '../../lib/is-plain-object.js';

/**
 * A date of an account, identity, session or refresh token in memory: its epoch milliseconds, or
 * the file's string where they would not give back the same text (see credentials-dates.ts).
 */
export type StoredDate = number | string;

/**
 * How restauth's records look inside credentials.json. Beside json-data-server's
 * `passwords` array, restauth keeps maps keyed by id (O(1) lookups, small
 * diffs): `accounts` (private per-user fields), `identities` (GoTrue's
 * auth.identities, keyed by identity id), `sessions`, `refreshTokens`
 * and `oneTimeTokens` (keyed by SHA-256 hash; an entry's `codeHash` consumes
 * it too), and `flowStates` (PKCE flows, keyed by id). Dates are ISO strings
 * in the file; in memory those of accounts, identities, sessions and refresh
 * tokens are epoch milliseconds (StoredDate, see credentials-dates.ts).
 * Changes to the maps are journaled entry by entry (credentials-journal.ts).
 * The audit log is not here (an append-only log of its own, never rewritten
 * by a sign-in): see audit-file.ts.
 */
interface PasswordEntry {
  sub: string;
  password: string;
}

export interface AccountRecord {
  username: string | null;
  email: string | null;
  emailConfirmedAt: StoredDate | null;
  role: string | null;
  tokenVersion: number;
  appMetadata: Record<string, unknown>;
  createdAt: StoredDate;
  updatedAt: StoredDate;
  lastSignInAt: StoredDate | null;
  /** Absent in files written before bans: not banned. */
  bannedUntil?: StoredDate | null;
  /** An anonymous sign-in's user; absent: false (files written before anonymous sign-ins). */
  isAnonymous?: boolean;
  /** When an administrator last invited the user (GoTrue's invited_at); absent: never. */
  invitedAt?: StoredDate | null;
}

/**
 * A user's identity (GoTrue's auth.identities row, core/ports/store.ts's Identity), keyed by its id.
 * Absent in files written before identities: a user's `email` identity is then derived from its
 * account (credentials-identities.ts), with the same id every time.
 */
export interface IdentityRecord {
  userId: string;
  provider: string;
  providerId: string;
  identityData: Record<string, unknown>;
  lastSignInAt: StoredDate | null;
  createdAt: StoredDate;
  updatedAt: StoredDate;
}

export interface SessionRecord {
  userId: string;
  createdAt: StoredDate;
  refreshedAt: StoredDate;
  notAfter: StoredDate;
  revokedAt: StoredDate | null;
  revokedReason: string | null;
  refreshSecret: string;
  /** How it was authenticated (GoTrue's amr: method and date); absent in files from before: none. */
  amr?: { method: string; at: StoredDate }[];
}

interface RefreshTokenEntry {
  sessionId: string;
  createdAt: StoredDate;
  rotatedAt: StoredDate | null;
  /** Hash of the token this one replaced, to walk back the chain when pruning. */
  parent?: string;
}

export interface OneTimeTokenEntry {
  /** Hash of the token's typed code; absent in files written before codes existed (read as null). */
  codeHash?: string | null;
  /** The address the code was mailed to; absent in files written before codes were keyed (read as null). */
  recipient?: string | null;
  /** Wrong codes typed for it so far (absent: none). */
  failedAttempts?: number;
  userId: string;
  purpose: string;
  createdAt: string;
  expiresAt: string;
  data: Record<string, unknown>;
}

/** A PKCE flow (core/ports/flow-states.ts), dates as ISO strings. */
export interface FlowStateEntry {
  userId: string;
  authCodeHash: string | null;
  codeChallenge: string;
  codeChallengeMethod: 's256' | 'plain';
  authenticationMethod: string;
  providerType: string;
  createdAt: string;
  authCodeIssuedAt: string | null;
  /** An OAuth flow's provider tokens, sealed by core; absent for the mailed links' flows. */
  providerAccessToken?: string;
  providerRefreshToken?: string;
  /** A linkIdentity flow's identity to link at the exchange, written by core; absent for every other flow. */
  pendingLink?: string;
}

/** A pending OAuth sign-in (see core/ports/flow-states.ts OAuthFlow), keyed by its state. */
export interface OAuthFlowEntry {
  providerType: string;
  codeChallenge: string | null;
  codeChallengeMethod: 's256' | 'plain' | null;
  referrer: string | null;
  linkingTargetId: string | null;
  /** Absent in a flow written before it was kept: such a link flow is refused at its callback. */
  linkingSessionId?: string | null;
  createdAt: string;
}

export interface CredentialsDocument {
  passwords: PasswordEntry[];
  accounts: Record<string, AccountRecord>;
  identities: Record<string, IdentityRecord>;
  sessions: Record<string, SessionRecord>;
  refreshTokens: Record<string, RefreshTokenEntry>;
  oneTimeTokens: Record<string, OneTimeTokenEntry>;
  /** PKCE flows by id (see flow-states.ts); absent in files written before PKCE. */
  flowStates: Record<string, FlowStateEntry>;
  /** OAuth sign-ins waiting for their provider's callback, by state; absent in files written before OAuth. */
  oauthFlows: Record<string, OAuthFlowEntry>;
  /** Spent id_tokens (grant_type=id_token) by the hash of their signed part; absent until the first (spentIdTokensOf). */
  spentIdTokens?: Record<string, SpentIdTokenEntry>;
}

/** An id_token signInWithIdToken has spent, kept until it no longer verifies. */
export interface SpentIdTokenEntry {
  keepUntil: string;
}

/** The maps of credentials.json: their keys are user ids (chosen by clients), session ids and hashes. */
const MAP_KEYS = [
  'accounts',
  'identities',
  'sessions',
  'refreshTokens',
  'oneTimeTokens',
  'flowStates',
  'oauthFlows',
] as const;

/** Maps added only once an entry is written: a file that never had one is written back as it was. */
const LAZY_MAP_KEYS = ['spentIdTokens'] as const;

/**
 * Fills in the keys restauth adds, so a json-data-server credentials.json works
 * as it is, and makes each map a null-prototype object. A user id is whatever
 * a client registered (json-data-server's userIdRE is `.*`): on a plain object
 * `accounts["__proto__"] = ...` would replace the map's prototype, and a
 * lookup of `__proto__` would hand back Object.prototype for writing. Without a
 * prototype every key is an own data property, and JSON.stringify writes the
 * same file as before. Idempotent and cheap once converted (a reload from disk
 * brings plain objects back, converted again at their first use).
 */
export function normalizeCredentials(doc: Record<string, unknown>): CredentialsDocument {
  if (!Array.isArray(doc.passwords)) doc.passwords = [];
  // eslint-disable-next-line no-restricted-syntax -- the key comes from the fixed MAP_KEYS list
  for (const key of MAP_KEYS) doc[key] = nullPrototypeMap(doc[key]);
  // eslint-disable-next-line no-restricted-syntax -- the key comes from the fixed LAZY_MAP_KEYS list
  for (const key of LAZY_MAP_KEYS) if (doc[key] !== undefined) doc[key] = nullPrototypeMap(doc[key]);
  return doc as unknown as CredentialsDocument;
}

/** credentials.json's spent id_tokens, the map added when `create` and absent. */
export function spentIdTokensOf(
  doc: CredentialsDocument,
  create: boolean,
): Record<string, SpentIdTokenEntry> {
  if (doc.spentIdTokens === undefined && create)
    doc.spentIdTokens = Object.create(null) as Record<string, SpentIdTokenEntry>;
  return doc.spentIdTokens ?? {};
}

function nullPrototypeMap(value: unknown): Record<string, unknown> {
  const isMap = isPlainObject(value);
  if (isMap && Object.getPrototypeOf(value) === null) return value as Record<string, unknown>;
  const map: Record<string, unknown> = Object.create(null);
  // Object.assign copies own properties only (JSON.parse makes `"__proto__"` an own one) and, on a
  // target without a prototype, defines each key as a plain property: no setter is reachable.
  if (isMap) Object.assign(map, value);
  return map;
}

/**
 * Fields a user's public db.json record never takes from a profile (sign-up
 * metadata, a registration's extra fields, a profile update): the record's
 * ids (the data API addresses users by `id`), the identity fields whose truth
 * lives in credentials.json, and the names that would reach a prototype.
 * Identity and password-like fields are left out under any spelling too
 * (isIdentityField, isSecretField): GoTrue's `data` set `Role`, `is_super_admin`,
 * `aud` or `Email` on the public record, which the data API and the other
 * dialects' registrations refuse, for a reader cannot tell them from the real ones.
 */
const NOT_FROM_PROFILE = new Set([
  'id',
  'email',
  'phone',
  'role',
  'password',
  'encrypted_password',
  'app_metadata',
  'email_confirmed_at',
  'banned_until',
  '__proto__',
  'constructor',
  'prototype',
]);

/** The db.json record of user `id`: the profile minus identity fields, the id last so nothing overrides it. */
export function userRecord(
  profile: Record<string, unknown>,
  userIdProp: string,
  id: unknown,
): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  const define = (key: string, value: unknown) =>
    Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  for (const [key, value] of Object.entries(profile)) {
    const kept = !NOT_FROM_PROFILE.has(key) && !isIdentityField(key) && !isSecretField(key);
    if (kept && key !== userIdProp) define(key, value);
  }
  define(userIdProp, id);
  return record;
}
