import type { TObject } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { JsonDataServerDialectConfig } from '../../config/schema.js';
import type { AuthService, IssuedSession } from '../../core/auth-service.js';
import { AuthError, isAuthError } from '../../core/errors.js';
import { isEmailLogin, loginKey } from '../../core/identity.js';
import { registrationProfile } from '../../core/validation.js';
import { TokenError } from '../../core/tokens.js';
import type { RateLimitFamily } from '../../core/rate-limit.js';
import { bearerToken } from '../../lib/bearer-token.js';
import { useErrorReply } from '../errors.js';
import { documentRoutes } from '../route-docs.js';
import { jsonDataServerBodies, jsonDataServerDocs } from './json-data-server-docs.js';
import { userStateOnly } from './user-state-claims.js';
import type { RateLimitHook } from '../rate-limit.js';
import { clientOf, withSignInHit } from '../client.js';

/**
 * json-data-server's authentication routes (POST only), with its configurable
 * paths and field names. Errors answer 400 with the reason as plain text, as
 * its document says; load shedding keeps 503 and oversized bodies 413 so
 * clients can tell them apart.
 */
export interface JsonDataServerOptions {
  auth: AuthService;
  limit: RateLimitHook;
  settings: JsonDataServerDialectConfig & {
    /** Property naming users in db.json (json-data-server's `userId`): accepted as a request field too. */
    userIdProp?: string;
  };
}

type Body = Record<string, unknown>;

const KEEP_STATUS = new Set([413, 415, 429, 500, 503, 507]);

export const jsonDataServerDialect: FastifyPluginAsync<JsonDataServerOptions> = async (
  app,
  { auth, settings, limit },
) => {
  const userIdProp = settings.userIdProp ?? 'id';
  const fields = {
    user: settings.reqUserId,
    password: settings.reqUserPassword,
    newPassword: settings.reqNewPassword,
  };

  documentRoutes(app, 'json-data-server', jsonDataServerDocs(settings));
  const bodies = jsonDataServerBodies(settings, userIdProp);
  useErrorReply(app, (error) => ({
    status: KEEP_STATUS.has(error.status) ? error.status : 400,
    body: error.message,
    contentType: 'text/plain; charset=utf-8',
  }));

  const tokenAnswer = (issued: IssuedSession) => ({
    [settings.jwtAccessToken]: issued.accessToken,
    [settings.jwtRefreshToken]: issued.refreshToken,
  });

  /** The user named in the request: the configured field, else the users' id property (the document's examples). */
  const requestedUser = (body: Body, required: boolean): string | null => {
    const value = body[fields.user] ?? body[userIdProp];
    if (value === undefined || value === null) {
      if (required) throw new AuthError('validation_failed', `Missing ${fields.user}`);
      return null;
    }
    if (typeof value !== 'string')
      throw new AuthError('validation_failed', `${fields.user} must be a string`);
    return value;
  };

  const route = (
    path: string,
    family: RateLimitFamily | null,
    body: TObject,
    handler: (body: Body, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
    /** The family's hit is left to the handler (a sign-in's, counted with its lookup: withSignInHit). */
    deferred = false,
  ): void => {
    if (path === '') return; // an empty route disables it, as in json-data-server
    const options = {
      schema: { body },
      ...(family ? { preHandler: deferred ? limit.deferring(family) : limit(family) } : {}),
      // check and logout take a Bearer header alone: a request with no body is an empty object.
      ...(path === settings.checkRoute || path === settings.logoutRoute
        ? { preValidation: emptyBodyAsObject }
        : {}),
    };
    app.post(path, options, (request, reply) => handler(request.body as Body, request, reply));
  };

  route(settings.registerRoute, 'signUp', bodies.register, async (body, request) => {
    const login = requestedUser(body, true) as string;
    const password = requiredString(body, fields.password);
    const reserved = new Set([fields.user, userIdProp, fields.password, fields.newPassword, 'email']);
    // The extra fields become the public record: none may pose as identity facts.
    const profile = registrationProfile(
      Object.fromEntries(Object.entries(body).filter(([key]) => !reserved.has(key))),
    );
    let email = optionalString(body, 'email');
    let username: string | null = login;
    if (isEmailLogin(login)) {
      // A login with `@` is an address, never a name (core/identity.ts): this is an email account.
      auth.assertUsernameFormat(login);
      if (email !== null && loginKey(email) !== loginKey(login))
        throw new AuthError('validation_failed', `${fields.user} is an email address other than email`);
      [username, email] = [null, login];
    }
    const issued = await auth.signUp(
      clientOf(request),
      {
        username,
        email,
        password,
        profile,
        emailConfirmed: false,
      },
      userStateOnly,
    );
    return tokenAnswer(issued);
  });

  route(
    settings.loginRoute,
    'signIn',
    bodies.login,
    (body, request) =>
      // A body refused here is counted too, by the end: past the allowance its answer is the 429.
      withSignInHit(limit, request, async (client) => {
        const username = requestedUser(body, true) as string;
        const password = requiredString(body, fields.password);
        return tokenAnswer(await auth.signIn(client, username, password, userStateOnly));
      }),
    true,
  );

  route(settings.refreshRoute, 'refresh', bodies.refresh, async (body, request) => {
    const refreshToken = requiredString(body, settings.jwtRefreshToken);
    const username = requestedUser(body, false);
    return tokenAnswer(await auth.refresh(clientOf(request), refreshToken, userStateOnly, username));
  });

  route(settings.checkRoute, null, bodies.check, async (body, request) => {
    const accessToken =
      optionalString(body, settings.jwtAccessToken) ?? bearerToken(request.headers.authorization);
    if (accessToken === null) throw new AuthError('validation_failed', `Missing ${settings.jwtAccessToken}`);
    const username = requestedUser(body, false);
    try {
      const { isAnonymous } = await auth.authorizeCaller(accessToken, username);
      // json-data-server knows no anonymous users: its clients read `valid` as "a registered user is
      // signed in" and admit on it, as its data routes admit only members. An anonymous sign-in's
      // token (GoTrue's, or this dialect's refresh of its session) is no member's; the store says so.
      if (isAnonymous) return { valid: false, reason: 'anonymous user' };
      return { valid: true };
    } catch (error) {
      if (error instanceof TokenError) return { valid: false, reason: error.reason };
      if (error instanceof AuthError && (error.status === 401 || error.code === 'user_banned'))
        return { valid: false, reason: error.message };
      throw error;
    }
  });

  route(settings.passwordRoute, 'signIn', bodies.password, async (body, request) => {
    const username = requestedUser(body, true) as string;
    const currentPassword = requiredString(body, fields.password);
    const newPassword = requiredString(body, fields.newPassword);
    // json-data-server answers a password change with a new session: every older one ends.
    const issued = await auth.changePasswordWithCurrent(clientOf(request), {
      login: username,
      currentPassword,
      newPassword,
      extraClaims: userStateOnly,
    });
    return tokenAnswer(issued);
  });

  route(settings.logoutRoute, null, bodies.logout, async (body, request, reply) => {
    // json-data-server never implemented logout; restauth ends the session server-side, found
    // from its refresh token or from the access token.
    const refreshToken = optionalString(body, settings.jwtRefreshToken);
    const accessToken =
      optionalString(body, settings.jwtAccessToken) ?? bearerToken(request.headers.authorization);
    if (accessToken === null && refreshToken === null) {
      throw new AuthError(
        'validation_failed',
        `Missing ${settings.jwtAccessToken} or ${settings.jwtRefreshToken}`,
      );
    }
    // Each token sent ends its session; the logout stands if one of them did. A client logs out with
    // what it holds, often an access token expired an hour ago beside a live refresh token: refused
    // for the access token alone, that logout left the refresh token, the long-lived way in, working.
    const client = clientOf(request);
    const endings: (() => Promise<void>)[] = [];
    if (accessToken !== null) {
      endings.push(async () => {
        const { session, user } = await auth.check(accessToken);
        await auth.signOut(client, session.id, user.id, 'local');
      });
    }
    if (refreshToken !== null) endings.push(() => auth.signOutByRefreshToken(client, refreshToken));
    let refusal: AuthError | null = null;
    let ended = false;
    for (const end of endings) {
      try {
        await end();
        ended = true;
      } catch (error) {
        if (!isAuthError(error)) throw error;
        refusal ??= error;
      }
    }
    if (!ended && refusal !== null) throw refusal;
    return reply.code(204).send();
  });
};

function optionalString(body: Body, field: string): string | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new AuthError('validation_failed', `${field} must be a string`);
  return value;
}

function requiredString(body: Body, field: string): string {
  const value = optionalString(body, field);
  if (value === null || value === '') throw new AuthError('validation_failed', `Missing ${field}`);
  return value;
}

async function emptyBodyAsObject(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}
