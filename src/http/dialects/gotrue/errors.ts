import type { FastifyRequest } from 'fastify';
import { AuthError, TOKEN_USER_NOT_FOUND, type ErrorCode } from '../../../core/errors.js';
import { TokenError } from '../../../core/tokens.js';
import type { ErrorFormat, WireError } from '../../errors.js';

/**
 * GoTrue's (Supabase Auth's) errors: its codes, statuses and messages, as
 * internal/api/apierrors and its handlers write them, and its two bodies:
 * `{code: <status>, error_code, msg}` for clients that name no API version,
 * `{code: <error code>, message}` for those that send X-Supabase-Api-Version
 * 2024-01-01 or later (auth-js does, on every request). docs/supabase.md has
 * the table per route; test/gotrue/wire-errors.test.ts drives each one.
 */

export const API_VERSION_HEADER = 'x-supabase-api-version';
const API_VERSION_2024 = '2024-01-01';

interface GotrueAnswer {
  status: number;
  code: string;
  message: string;
}

type Rewrite = Partial<GotrueAnswer> | ((error: AuthError) => Partial<GotrueAnswer>);

/** The registry's words for a body over bodyLimit (the 413 with no message of its own). */
const BODY_TOO_LARGE = new AuthError('payload_too_large').message;

const INVALID_JWT = 'invalid JWT: unable to parse or verify signature, ';

/** golang-jwt's words for why a token failed, which GoTrue puts after INVALID_JWT. */
function jwtReason(error: AuthError): string {
  const reason = error instanceof TokenError ? error.reason : error.message;
  if (reason === 'jwt expired') return 'token has invalid claims: token is expired';
  if (reason === 'jwt not active') return 'token has invalid claims: token is not valid yet';
  if (reason === 'jwt aud invalid') return 'token has invalid claims: token has invalid audience';
  if (reason === 'jwt iss invalid') return 'token has invalid claims: token has invalid issuer';
  if (reason === 'invalid signature') return 'token signature is invalid: signature is invalid';
  if (reason === 'jwt malformed') return 'token is malformed: could not JSON decode header';
  return 'token is unverifiable: error while executing keyfunc';
}

/** What GoTrue answers where restauth's code, status or message differ (the rest pass as they are). */
const GOTRUE_ANSWERS: Partial<Record<ErrorCode, Rewrite>> = {
  invalid_json: (error) => ({
    code: 'bad_json',
    message: `Could not parse request body as JSON: ${causeMessage(error) ?? error.message}`,
  }),
  // A body over bodyLimit in GoTrue's words; a merge of user data over it says what it would hold.
  payload_too_large: (error) => ({
    code: 'request_entity_too_large',
    message: error.message === BODY_TOO_LARGE ? 'Request body too large' : error.message,
  }),
  unsupported_media_type: (error) => ({
    status: 400,
    code: 'bad_json',
    message: `Could not parse request body as JSON: ${error.message}`,
  }),
  // GoTrue ends its password messages with a full stop.
  weak_password: (error) => ({ message: fullStop(error.message) }),
  same_password: { message: 'New password should be different from the old password.' },
  no_authorization: { message: 'This endpoint requires a valid Bearer token' },
  bad_jwt: (error) => ({ status: 403, message: INVALID_JWT + jwtReason(error) }),
  token_expired: (error) => ({ status: 403, code: 'bad_jwt', message: INVALID_JWT + jwtReason(error) }),
  // A token of a session that ended (a password change, a deleted user): GoTrue has deleted the session.
  // Its user not found with its session live: requireAuthentication's words (FindUserByID failed).
  token_revoked: (error) =>
    error.message === TOKEN_USER_NOT_FOUND
      ? { status: 403, code: 'user_not_found', message: 'User from sub claim in JWT does not exist' }
      : {
          status: 403,
          code: 'session_not_found',
          message: 'Session from session_id claim in JWT does not exist',
        },
  session_not_found: { status: 403, message: 'Session from session_id claim in JWT does not exist' },
  session_expired: { status: 403, message: 'Session is no longer valid' },
  refresh_token_not_found: { message: 'Invalid Refresh Token: Refresh Token Not Found' },
  refresh_token_reused: {
    code: 'refresh_token_already_used',
    message: 'Invalid Refresh Token: Already Used',
  },
  over_request_rate_limit: { message: 'Request rate limit reached' },
  // identity.go's DeleteIdentity: an id that is not one of the caller's identities.
  identity_not_found: { status: 422, message: "Identity doesn't exist" },
  // Only when redirects.refuse is set: GoTrue itself falls back to the site URL.
  bad_redirect: { code: 'validation_failed' },
  unexpected_failure: { message: 'Unexpected failure, please check server logs for more information' },
};

/**
 * Where one of GoTrue's routes words an error its own way: the refresh grant for a refresh token that
 * leads nowhere (internal/tokens/service.go: a signed-out session's tokens are deleted with it), and
 * sign-up for a taken address (signup.go; email_exists is the admin API's and PUT /user's).
 */
const ROUTE_ANSWERS: ReadonlyMap<string, Partial<Record<ErrorCode, Partial<GotrueAnswer>>>> = new Map([
  [
    'POST /token?grant_type=refresh_token',
    {
      session_not_found: {
        status: 400,
        code: 'refresh_token_not_found',
        message: 'Invalid Refresh Token: Refresh Token Not Found',
      },
      session_expired: { status: 400, message: 'Invalid Refresh Token: Session Expired' },
      user_banned: { status: 400, message: 'Invalid Refresh Token: User Banned' },
    },
  ],
  ['POST /signup', { email_exists: { code: 'user_already_exists', message: 'User already registered' } }],
]);

type Input = Record<string, unknown>;

/**
 * GoTrue's words for a field a route's schema finds missing, or a string it does not accept (its
 * handlers check these themselves), by route and field. Any other refusal of a body's field (a number
 * for a string) is Go's JSON decoding error: bad_json.
 */
type FieldAnswer = (body: Input, query: Input) => Partial<GotrueAnswer>;
const FIELD_ANSWERS: ReadonlyMap<string, FieldAnswer> = new Map<string, FieldAnswer>([
  ['POST /signup password', () => ({ message: 'Signup requires a valid password' })],
  // Neither email nor phone: GoTrue's anonymous sign-in, off unless enabled.
  [
    'POST /signup email',
    () => ({ status: 422, code: 'anonymous_provider_disabled', message: 'Anonymous sign-ins are disabled' }),
  ],
  ['POST /recover email', () => ({ message: 'Password recovery requires an email' })],
  ['POST /otp email', () => ({ message: 'One of email or phone must be set' })],
  [
    'POST /resend type',
    () => ({ message: 'Missing one of these types: signup, email_change, sms, phone_change' }),
  ],
  ['POST /resend email', () => ({ message: 'Type provided requires an email address' })],
  [
    'POST /verify *',
    (body) => ({
      message:
        body['type'] === undefined
          ? 'Verify requires a verification type'
          : typeof body['type'] === 'string' && !VERIFY_TYPES.has(body['type'])
            ? 'Unsupported verification type'
            : 'Verify requires either a token or a token hash',
    }),
  ],
  [
    'POST /logout scope',
    (_body, query) => ({ message: `Unsupported logout scope ${JSON.stringify(query['scope'])}` }),
  ],
  ['POST /token grant_type', () => ({ code: 'invalid_credentials', message: 'unsupported_grant_type' })],
  [
    'POST /admin/generate_link type',
    (body) => ({ message: `Invalid email action link type requested: ${String(body['type'] ?? '')}` }),
  ],
  ['POST /admin/generate_link email', () => ({ message: 'An email address is required' })],
]);
const VERIFY_TYPES = new Set([
  'signup',
  'invite',
  'magiclink',
  'recovery',
  'email_change',
  'email',
  'sms',
  'phone_change',
]);

/** GoTrue's error format for the dialect mounted at `mountPath`. */
export function gotrueErrorFormat(mountPath: string): ErrorFormat {
  return (error, request) => errorJson(gotrueAnswer(error, request, mountPath), request);
}

/** GoTrue's code, status and message for an error of a request. */
export function gotrueAnswer(error: AuthError, request: FastifyRequest, mountPath: string): GotrueAnswer {
  const rewrite = GOTRUE_ANSWERS[error.code];
  const answer = {
    status: error.status,
    code: error.code as string,
    message: error.message,
    ...(typeof rewrite === 'function' ? rewrite(error) : rewrite),
    ...ROUTE_ANSWERS.get(routeKey(request, mountPath))?.[error.code],
  };
  if (error.code !== 'validation_failed') return answer;
  const context = validationContext(error);
  if (context === undefined) return answer;
  const fieldAnswer = schemaFieldAnswer(error, request, mountPath);
  if (fieldAnswer !== undefined) return { ...answer, ...fieldAnswer };
  // A schema's refusal of a body's field type is a JSON decoding error in Go; a string of the right
  // type that a bound refuses (too long, not one of the values) stays a validation failure.
  const failure = (error.cause as { validation?: ValidationFailure[] } | undefined)?.validation?.[0];
  if (context === 'body' && failure?.keyword === 'type') {
    return { ...answer, code: 'bad_json', message: `Could not parse request body as JSON: ${error.message}` };
  }
  return answer;
}

function schemaFieldAnswer(
  error: AuthError,
  request: FastifyRequest,
  mountPath: string,
): Partial<GotrueAnswer> | undefined {
  const route = routeKey(request, mountPath).split('?')[0];
  const body = (isObject(request.body) ? request.body : {}) as Input;
  const query = (isObject(request.query) ? request.query : {}) as Input;
  const whole = FIELD_ANSWERS.get(`${route} *`);
  if (whole) return whole(body, query);
  const failure = (error.cause as { validation?: ValidationFailure[] } | undefined)?.validation?.[0];
  if (failure === undefined) return undefined;
  const field =
    typeof failure.params?.['missingProperty'] === 'string'
      ? failure.params['missingProperty']
      : failure.instancePath.split('/')[1];
  const input = validationContext(error) === 'body' ? body : query;
  const value = field === undefined ? undefined : input[field];
  // Missing, or a string GoTrue's handler would have read and refused; anything else failed to decode.
  if (field === undefined || (value !== undefined && typeof value !== 'string')) return undefined;
  return FIELD_ANSWERS.get(`${route} ${field}`)?.(body, query);
}

interface ValidationFailure {
  keyword?: string;
  instancePath: string;
  params?: Record<string, unknown>;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** GoTrue's error body and headers, in the shape of the client's API version. */
function errorJson({ status, code, message }: GotrueAnswer, request: FastifyRequest): WireError {
  const weakPassword =
    code === 'weak_password' ? { weak_password: { reasons: weakPasswordReasons(message) } } : {};
  if (apiVersion2024(request.headers[API_VERSION_HEADER])) {
    return {
      status,
      body: { code, message, ...weakPassword },
      headers: {
        'X-Supabase-Api-Version': API_VERSION_2024,
        ...(code === 'weak_password' ? {} : { 'x-sb-error-code': code }),
      },
    };
  }
  return {
    status,
    body: {
      code: status,
      error_code: code,
      msg: message,
      ...weakPassword,
      // GoTrue names the request of a server error, so a report can be matched with its log line.
      ...(status >= 500 ? { error_id: request.id } : {}),
    },
    headers: { 'x-sb-error-code': code },
  };
}

/** GoTrue's API version rule: a date on or after 2024-01-01 selects the new body; anything else the old. */
function apiVersion2024(header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !/^\d{4}-\d{2}-\d{2}$/u.test(header)) return false;
  const date = new Date(`${header}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(header) && header >= API_VERSION_2024;
}

function weakPasswordReasons(message: string): string[] {
  return [/at least \d+ characters/u.test(message) ? 'length' : 'characters'];
}

/** "POST /signup"; the token route with its grant ("POST /token?grant_type=password"). */
function routeKey(request: FastifyRequest, mountPath: string): string {
  const route = `${request.method} ${request.routeOptions.url?.slice(mountPath.length) ?? ''}`;
  if (!route.endsWith(' /token')) return route;
  const grant = (request.query as Record<string, unknown> | undefined)?.['grant_type'];
  return `${route}?grant_type=${String(grant)}`;
}

function validationContext(error: AuthError): unknown {
  return (error.cause as { validationContext?: unknown } | undefined)?.validationContext;
}

function causeMessage(error: AuthError): string | undefined {
  return error.cause instanceof Error ? error.cause.message : undefined;
}

function fullStop(message: string): string {
  return message.endsWith('.') ? message : `${message}.`;
}
