import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AuthService, ExtraClaims, IssuedSession } from '../../core/auth-service.js';
import { AuthError } from '../../core/errors.js';
import { checkEmail } from '../../core/identity.js';
import { registrationProfile } from '../../core/validation.js';
import { useErrorReply } from '../errors.js';
import type { RateLimitHook } from '../rate-limit.js';
import { documentRoutes } from '../route-docs.js';
import {
  JSON_SERVER_AUTH_LOGIN_PATHS,
  JSON_SERVER_AUTH_REGISTER_PATHS,
  jsonServerAuthBody,
  jsonServerAuthDocs,
} from './json-server-auth-docs.js';
import { clientOf } from '../client.js';

/**
 * json-server-auth 2.1.0's routes: POST /register, /signup and /users make a
 * user from `email` and `password` (every other field is kept in the user's
 * db.json record) and answer `201 {accessToken, user}`; POST /login and
 * /signin answer `200 {accessToken, user}`. Errors are a JSON string with
 * json-server-auth's status and words ("Email already exists"). The token is
 * restauth's (a session that can end, a revocable access token) with
 * json-server-auth's claims: `sub` the user's id, `email`.
 */
export interface JsonServerAuthOptions {
  auth: AuthService;
  limit: RateLimitHook;
  /** passwords.minLength: a new password shorter than this is "Password is too short". */
  minPasswordLength: number;
  /** Route constraints each route declares (served only while the switch is on: http/app.ts). */
  constraints?: Record<string, string>;
  /** The user's record as the data API shows it (db.json's, without secrets), or null. */
  userRecord(id: string): Record<string, unknown> | null;
}

type Body = Record<string, unknown>;

/**
 * json-server-auth refused a sign-in password shorter than this before looking the user up. Kept for
 * sign-ins only (a new password follows passwords.minLength), so a user it registered always signs in.
 */
const ITS_MIN_PASSWORD_LENGTH = 4;
/** Statuses that say something a client acts on (retry later, too large): kept; every other refusal is 400. */
const KEEP_STATUS = new Set([413, 415, 429, 500, 503, 507]);
/** One answer for an unknown address and a wrong password: a sign-in does not tell which addresses exist. */
const BAD_CREDENTIALS = 'Incorrect email or password';

/** json-server-auth's token claims beside restauth's: the address. */
const emailClaim: ExtraClaims = (user) => (user.email === null ? {} : { email: user.email });

export const jsonServerAuthDialect: FastifyPluginAsync<JsonServerAuthOptions> = async (app, options) => {
  const { auth, limit } = options;
  documentRoutes(app, 'json-server-auth', jsonServerAuthDocs());
  useErrorReply(app, (error) => ({
    status: KEEP_STATUS.has(error.status) ? error.status : 400,
    // A JSON string, as json-server-auth's res.jsonp('...') answered.
    body: JSON.stringify(wordsOf(error)),
    contentType: 'application/json; charset=utf-8',
  }));

  const answer = (issued: IssuedSession) => {
    const record = options.userRecord(issued.user.id) ?? { id: issued.user.id };
    // json-server-auth's user: the record as stored, its address first; never a password.
    return { accessToken: issued.accessToken, user: { email: issued.user.email, ...record } };
  };

  const register = async (request: FastifyRequest, reply: { code(status: number): unknown }) => {
    const body = request.body as Body;
    const { email, password } = credentialsOf(body, options.minPasswordLength);
    // The extra fields become the public record: none may pose as identity facts.
    const profile = registrationProfile(
      Object.fromEntries(Object.entries(body).filter(([key]) => key !== 'email' && key !== 'password')),
    );
    const issued = await auth.signUp(
      clientOf(request),
      { username: null, email, password, profile, emailConfirmed: false },
      emailClaim,
    );
    reply.code(201);
    return answer(issued);
  };

  const login = async (request: FastifyRequest) => {
    const { email, password } = credentialsOf(
      request.body as Body,
      Math.min(ITS_MIN_PASSWORD_LENGTH, options.minPasswordLength),
    );
    return answer(await auth.signIn(clientOf(request), email, password, emailClaim));
  };

  const schema = { body: jsonServerAuthBody };
  const constraints = options.constraints ?? {};
  for (const path of JSON_SERVER_AUTH_REGISTER_PATHS) {
    app.post(path, { schema, constraints, preHandler: limit('signUp') }, register);
  }
  for (const path of JSON_SERVER_AUTH_LOGIN_PATHS) {
    app.post(path, { schema, constraints, preHandler: limit('signIn') }, login);
  }
};

/**
 * json-server-auth's checks, in its order and words: both fields there, the address's format (restauth's
 * own check, core/identity.ts), the password's length.
 */
function credentialsOf(body: Body, minLength: number): { email: string; password: string } {
  const { email, password } = body;
  // json-server-auth answered a field of another type with a 500 (`.trim` of a number): a 400 here.
  if (typeof email !== 'string' || typeof password !== 'string' || !email.trim() || !password.trim())
    throw new AuthError('validation_failed', 'Email and password are required');
  try {
    checkEmail(email);
  } catch {
    throw new AuthError('validation_failed', 'Email format is invalid');
  }
  if ([...password].length < minLength) throw new AuthError('weak_password', 'Password is too short');
  return { email, password };
}

/** An error in json-server-auth's words where it had some, else restauth's message. */
function wordsOf(error: AuthError): string {
  switch (error.code) {
    case 'email_exists':
    case 'user_already_exists':
      return 'Email already exists';
    case 'invalid_credentials':
      return BAD_CREDENTIALS;
    case 'weak_password':
      // restauth's own policy (passwords.minLength, passwordPattern) in json-server-auth's words for length.
      return /at least|too short/i.test(error.message) ? 'Password is too short' : error.message;
    default:
      return error.message;
  }
}
