import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuthService, ExtraClaims, IssuedAccessToken } from '../../core/auth-service.js';
import { userStateClaims } from './user-state-claims.js';
import { AuthError } from '../../core/errors.js';
import { bearerToken } from '../../lib/bearer-token.js';
import { useErrorReply } from '../errors.js';
import { documentRoutes } from '../route-docs.js';
import { postgrestAuthDocs } from './postgrest-auth-docs.js';
import type { RateLimitHook } from '../rate-limit.js';
import { clientOf, withSignInHit } from '../client.js';

/**
 * postgrest-auth's six endpoints (all POST, JSON or urlencoded), with the
 * request fields, statuses and bodies of its contract, and its defects fixed:
 * tokens carry the real token count, change_email works (by mail where
 * addresses are confirmed), forgot_* answer the same for unknown accounts,
 * new_password_confirm is compared, passwords follow restauth's policy rather
 * than 3-30 letters and digits, and no stack traces.
 */
export interface PostgrestAuthOptions {
  auth: AuthService;
  limit: RateLimitHook;
  /** Mount point of the endpoints (not `prefix`: Fastify would apply that one itself, twice). */
  mountPath: string;
  /** Claims copied into every token (postgrest-auth's `payload`, without `exp`). */
  payload: Record<string, unknown>;
}

/** postgrest-auth's user names: letters and digits, 3 to 20 (they name database roles). */
const Username = Type.String({ pattern: '^[A-Za-z0-9]{3,20}$' });
const Text = Type.String({ minLength: 1 });

const SignUpBody = Type.Object({ username: Username, password: Text, email: Type.Optional(Type.String()) });
const RefreshBody = Type.Object({
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
});
const ChangePasswordBody = Type.Object({
  username: Type.String({ minLength: 1 }),
  new_password: Text,
  new_password_confirm: Text,
  current_password: Type.Optional(Type.String()),
  reset_token: Type.Optional(Type.String()),
});
const ChangeEmailBody = Type.Object({ username: Text, password: Text, email: Text });
const ForgotPasswordBody = Type.Object({ username: Text });
const ForgotUsernameBody = Type.Object({ email: Text });

export const postgrestAuthDialect: FastifyPluginAsyncTypebox<PostgrestAuthOptions> = async (
  app,
  { auth, mountPath: prefix, payload, limit },
) => {
  documentRoutes(app, 'postgrest-auth', postgrestAuthDocs, prefix);
  useErrorReply(app, (error) => {
    // postgrest-auth answered every failure 400; overload and server faults keep their own status.
    const status = error.status >= 500 || error.status === 413 || error.status === 429 ? error.status : 400;
    return {
      status,
      body: {
        status,
        statusText: status === 400 ? 'Bad Request' : error.code,
        error: error.code,
        message: error.message,
      },
    };
  });

  // Its tokens: the configured payload, the user's real token count (postgrest-auth sent 0), a random jti.
  // The user's state after the configured payload: an operator's claim never hides it (user-state-claims.ts).
  const claims: ExtraClaims = (user) => ({
    ...payload,
    ...userStateClaims(user),
    count: user.tokenVersion,
    jti: randomUUID(),
  });
  const answer = (issued: IssuedAccessToken) => ({ access_token: issued.accessToken });

  app.post(
    `${prefix}/users`,
    { schema: { body: SignUpBody }, preHandler: limit('signUp') },
    async (request, reply) => {
      const { username, password, email } = request.body;
      const issued = await auth.signUp(
        clientOf(request),
        { username, password, email: email || null, emailConfirmed: false },
        claims,
      );
      return reply.code(201).send(answer(issued));
    },
  );

  app.post(
    `${prefix}/refresh_token`,
    {
      schema: { body: RefreshBody },
      // A sign-in's hit is counted with its lookup where the store can (one round trip less).
      preHandler: async (request, reply) => {
        const { username, password } = request.body ?? {};
        await (username && password ? limit.deferring('signIn') : limit('signIn')).call(app, request, reply);
      },
      // A bearer refresh sends no body at all: validate it as an empty object.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const { username, password } = request.body ?? {};
      if (username && password)
        return answer(
          await withSignInHit(limit, request, (client) => auth.signIn(client, username, password, claims)),
        );
      const token = bearerToken(request.headers.authorization);
      if (token === null)
        throw new AuthError('validation_failed', 'Require username and password or access_token');
      const checked = await auth.check(token);
      // postgrest-auth had no anonymous users: a schema of its era, with no policy reading
      // is_anonymous, takes any token it issues for a member's. Refused as another failure here is,
      // until the user is made permanent (its GoTrue session goes on at /token).
      if (checked.user.isAnonymous)
        throw new AuthError('forbidden', 'An anonymous user has no postgrest-auth token');
      return answer(await auth.reissue(checked, claims));
    },
  );

  app.post(
    `${prefix}/change_password`,
    { schema: { body: ChangePasswordBody }, preHandler: limit('signIn') },
    async (request) => {
      const body = request.body;
      if (body.new_password !== body.new_password_confirm) {
        throw new AuthError('validation_failed', 'new_password and new_password_confirm do not match');
      }
      if (body.reset_token) {
        const issued = await auth.resetPassword(clientOf(request), {
          token: body.reset_token,
          newPassword: body.new_password,
          login: body.username,
          extraClaims: claims,
        });
        return answer(issued);
      }
      if (!body.current_password)
        throw new AuthError('validation_failed', 'Require current_password or reset_token');
      const issued = await auth.changePasswordWithCurrent(clientOf(request), {
        login: body.username,
        currentPassword: body.current_password,
        newPassword: body.new_password,
        extraClaims: claims,
      });
      return answer(issued);
    },
  );

  app.post(
    `${prefix}/change_email`,
    // A taken address is answered email_exists: counted as the routes that mail an address are
    // (GoTrue's PUT /user too), or an account's holder could ask that of every address at full speed.
    { schema: { body: ChangeEmailBody }, preHandler: [limit('signIn'), limit('recovery')] },
    async (request) => {
      const { username: login, password, email: newEmail } = request.body;
      const outcome = await auth.changeEmail(clientOf(request), { login, password, newEmail });
      // The answer's shape is postgrest-auth's; where the address must be confirmed, it says so.
      return {
        message: outcome === 'changed' ? 'Email changed' : 'Confirmation mail sent to the new address',
      };
    },
  );

  app.post(
    `${prefix}/forgot_password`,
    { schema: { body: ForgotPasswordBody }, preHandler: limit('recovery') },
    async (request) => {
      await auth.requestPasswordReset(request.body.username);
      return { message: 'Password reset email sent' };
    },
  );

  app.post(
    `${prefix}/forgot_username`,
    { schema: { body: ForgotUsernameBody }, preHandler: limit('recovery') },
    async (request) => {
      await auth.remindUsername(request.body.email);
      return { message: 'Username Email sent' };
    },
  );
};
