/**
 * How restauth's records look inside credentials.json. Beside json-data-server's
 * `passwords` array, restauth keeps maps keyed by id (O(1) lookups, small
 * diffs): `accounts` (private per-user fields), `sessions`, `refreshTokens`
 * and `oneTimeTokens` (keyed by SHA-256 hash; an entry's `codeHash` consumes
 * it too). Dates are ISO strings. The audit log is not here (credentials.json
 * is rewritten at every commit): see audit-log.ts.
 */
export interface PasswordEntry {
  sub: string;
  password: string;
}

export interface AccountRecord {
  username: string | null;
  email: string | null;
  emailConfirmedAt: string | null;
  role: string | null;
  tokenVersion: number;
  appMetadata: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  lastSignInAt: string | null;
}

export interface SessionRecord {
  userId: string;
  createdAt: string;
  refreshedAt: string;
  notAfter: string;
  revokedAt: string | null;
  revokedReason: string | null;
  refreshSecret: string;
}

export interface RefreshTokenEntry {
  sessionId: string;
  createdAt: string;
  rotatedAt: string | null;
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

export interface CredentialsDocument {
  passwords: PasswordEntry[];
  accounts: Record<string, AccountRecord>;
  sessions: Record<string, SessionRecord>;
  refreshTokens: Record<string, RefreshTokenEntry>;
  oneTimeTokens: Record<string, OneTimeTokenEntry>;
}

/** Fills in the keys restauth adds, so a json-data-server credentials.json works as it is. */
export function normalizeCredentials(doc: Record<string, unknown>): CredentialsDocument {
  const isMap = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!Array.isArray(doc.passwords)) doc.passwords = [];
  for (const key of ['accounts', 'sessions', 'refreshTokens', 'oneTimeTokens']) {
    if (!isMap(doc[key])) doc[key] = {};
  }
  return doc as unknown as CredentialsDocument;
}
