/**
 * The one registry of error codes restauth can answer with. Each code has its
 * default HTTP status and a message safe to show a client. Dialects format an
 * AuthError into their wire format (GoTrue JSON, postgrest-auth JSON,
 * json-data-server plain text) and may map the status, but never invent codes.
 */
const errorRegistry = {
  validation_failed: { status: 400, message: 'Invalid request' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'Unsupported content type' },
  invalid_credentials: { status: 400, message: 'Invalid login credentials' },
  user_already_exists: { status: 422, message: 'User already registered' },
  email_exists: { status: 422, message: 'A user with this email address has already been registered' },
  weak_password: { status: 422, message: 'Password does not meet the requirements' },
  same_password: { status: 422, message: 'New password should be different from the old password' },
  user_not_found: { status: 404, message: 'User not found' },
  no_authorization: { status: 401, message: 'No authorization' },
  bad_jwt: { status: 401, message: 'Invalid token' },
  token_expired: { status: 401, message: 'Token has expired' },
  session_not_found: { status: 401, message: 'Session not found or signed out' },
  session_expired: { status: 401, message: 'Session has expired' },
  token_revoked: { status: 401, message: 'Token has been revoked' },
  refresh_token_not_found: { status: 400, message: 'Invalid refresh token' },
  refresh_token_reused: { status: 400, message: 'Refresh token already used; the session has been revoked' },
  otp_expired: { status: 403, message: 'Token has expired or is invalid' },
  // PKCE (grant_type=pkce): GoTrue's codes, statuses and messages.
  flow_state_not_found: { status: 404, message: 'invalid flow state, no valid flow state found' },
  flow_state_expired: { status: 422, message: 'invalid flow state, flow state has expired' },
  bad_code_verifier: { status: 400, message: 'code challenge does not match previously saved code verifier' },
  // OAuth and OIDC sign-in: GoTrue's codes, statuses and messages.
  bad_oauth_state: { status: 400, message: 'OAuth state parameter is invalid' },
  bad_oauth_callback: { status: 400, message: 'OAuth callback with missing authorization code' },
  provider_email_needs_verification: {
    status: 422,
    message: 'Unverified email with the provider. A confirmation email has been sent to your email',
  },
  signup_disabled: { status: 422, message: 'Signups not allowed for this instance' },
  bad_redirect: { status: 400, message: 'redirect_to is not an allowed address' },
  identity_already_exists: { status: 422, message: 'Identity is already linked to another user' },
  identity_not_found: { status: 404, message: 'Identity does not exist' },
  single_identity_not_deletable: {
    status: 422,
    message: 'User must have at least 1 identity after unlinking',
  },
  email_conflict_identity_not_deletable: {
    status: 422,
    message: 'Unable to unlink identity due to email conflict',
  },
  reauthentication_needed: { status: 400, message: 'Password update requires reauthentication' },
  reauthentication_not_valid: { status: 422, message: 'Nonce has expired or is invalid' },
  anonymous_provider_disabled: { status: 422, message: 'Anonymous sign-ins are disabled' },
  email_not_confirmed: { status: 400, message: 'Email not confirmed' },
  forbidden: { status: 403, message: 'Forbidden' },
  // GoTrue answers a banned user's sign-in 400 and anything else 403 (the sign-in passes status 400).
  user_banned: { status: 403, message: 'User is banned' },
  not_admin: { status: 403, message: 'User not allowed' },
  not_found: { status: 404, message: 'Not found' },
  // Features restauth does not have, answered with GoTrue's codes for a feature switched off.
  feature_disabled: { status: 404, message: 'This feature is disabled' },
  phone_provider_disabled: { status: 400, message: 'Phone logins are disabled' },
  saml_provider_disabled: { status: 404, message: 'SAML 2.0 is disabled' },
  web3_provider_disabled: { status: 422, message: 'Web3 provider is disabled' },
  manual_linking_disabled: { status: 404, message: 'Manual linking is disabled' },
  passkey_disabled: { status: 404, message: 'Passkeys are disabled' },
  provider_disabled: { status: 400, message: 'Provider is not enabled' },
  mfa_totp_enroll_not_enabled: { status: 422, message: 'MFA enroll is disabled for TOTP' },
  mfa_factor_not_found: { status: 404, message: 'Factor not found' },
  mfa_factor_name_conflict: { status: 422, message: 'Another factor of this user has this friendly name' },
  // GoTrue's code for a session that must reach aal2: restauth has no MFA, so a user with a verified
  // factor (a GoTrue database served as it is) gets no session at all rather than an aal1 one.
  insufficient_aal: {
    status: 403,
    message:
      'This user has a verified MFA factor, which this server does not check (AAL2 required): no session is opened or refreshed',
  },
  method_not_allowed: { status: 405, message: 'Method not allowed' },
  conflict: { status: 409, message: 'Conflict' },
  over_request_rate_limit: { status: 429, message: 'Too many requests' },
  over_capacity: { status: 503, message: 'Server is busy, retry shortly' },
  service_unavailable: { status: 503, message: 'The server is not ready to serve; retry shortly' },
  store_unavailable: { status: 503, message: 'The server cannot reach its database; retry shortly' },
  insufficient_storage: {
    status: 507,
    message: 'The server cannot store data right now (its storage is full or read-only); retry later',
  },
  unexpected_failure: { status: 500, message: 'Unexpected failure' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorRegistry;

/**
 * token_revoked's message for a token whose user is not found by id while its session is live (a user
 * of another GoTrue instance): GoTrue's dialect answers it as GoTrue does, 403 user_not_found.
 */
export const TOKEN_USER_NOT_FOUND = 'User of the token not found';

/** Every registered code (the dialects' docs list what each answers for them). */
export const ERROR_CODES = Object.freeze(Object.keys(errorRegistry) as ErrorCode[]);

/** An expected failure of a use case: carries a registered code, never a stack to the client. */
export class AuthError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds a client should wait before retrying (503 and 429 answers). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options?: { retryAfter?: number; cause?: unknown; status?: number },
  ) {
    super(message ?? errorRegistry[code].message, { cause: options?.cause });
    this.name = 'AuthError';
    this.code = code;
    this.status = options?.status ?? errorRegistry[code].status;
    this.retryAfter = options?.retryAfter;
  }
}

/**
 * What the storage said, where its error says it: a failing device (EIO) is no full disk, and an
 * operator told "full or read-only" looks at df and mount, not at the disk's errors.
 */
const STORAGE_REFUSALS: Readonly<Record<string, string>> = {
  ENOSPC: 'its storage is full',
  EDQUOT: 'its storage quota is used up',
  EROFS: 'its storage is read-only',
  EIO: 'its storage device is failing: an I/O error',
};

/** The 507 for a write the storage refused with `cause`, in the words of what happened when known. */
export function insufficientStorage(cause: unknown, retryAfter: number): AuthError {
  const code = (cause as { code?: unknown } | null)?.code;
  const refusal =
    typeof code === 'string' && Object.hasOwn(STORAGE_REFUSALS, code) ? STORAGE_REFUSALS[code] : undefined;
  const message =
    refusal === undefined ? undefined : `The server cannot store data right now (${refusal}); retry later`;
  return new AuthError('insufficient_storage', message, { retryAfter, cause });
}

export function isAuthError(value: unknown): value is AuthError {
  return value instanceof AuthError;
}
