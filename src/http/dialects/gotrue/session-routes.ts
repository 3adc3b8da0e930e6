import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AuthError } from '../../../core/errors.js';
import { bearerOf, requireUser, type GotrueOptions } from './context.js';
import { ClientExtras, Email, Metadata, pkceOf, RedirectQuery, requestedRedirect } from './schemas.js';
import { idTokenGrant, IdTokenFields } from './oauth-id-token.js';
import { linkAtExchange } from './oauth-link-exchange.js';
import { userAnswers } from './user-answers.js';
import { gotrueClaims } from './wire.js';
import { clientOf, withSignInHit } from '../../client.js';

/** Sign-up, sign-in, refresh, sign-out and the user's own record. */
const SignUpBody = Type.Object({
  // Neither: an anonymous sign-in (auth-js's signInAnonymously sends only data), as an empty address.
  email: Type.Optional(Type.String({ maxLength: 320 })),
  password: Type.Optional(Type.String()),
  data: Type.Optional(Metadata),
  ...ClientExtras,
});

/** GoTrue reads a sign-up without an address (absent or empty) as an anonymous sign-in. */
function isAnonymousSignUp(body: Static<typeof SignUpBody>): boolean {
  return body.email === undefined || body.email === '';
}
const TokenQuery = Type.Object({
  grant_type: Type.Union([
    Type.Literal('password'),
    Type.Literal('refresh_token'),
    Type.Literal('pkce'),
    Type.Literal('id_token'),
  ]),
});
const TokenBody = Type.Object({
  email: Type.Optional(Email),
  phone: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  // grant_type=pkce: the code from the redirect and the verifier of its challenge (43-128 characters).
  auth_code: Type.Optional(Type.String({ maxLength: 200 })),
  code_verifier: Type.Optional(Type.String({ maxLength: 200 })),
  // grant_type=id_token (signInWithIdToken).
  ...IdTokenFields,
  ...ClientExtras,
});
const LogoutQuery = Type.Object({
  scope: Type.Optional(Type.Union([Type.Literal('global'), Type.Literal('local'), Type.Literal('others')])),
});
const UserUpdateBody = Type.Object({
  email: Type.Optional(Email),
  password: Type.Optional(Type.String({ minLength: 1 })),
  data: Type.Optional(Metadata),
  nonce: Type.Optional(Type.String()),
  // Named so that they are refused, not dropped: an answer of 200 said they were written.
  app_metadata: Type.Optional(Type.Unknown()),
  phone: Type.Optional(Type.String({ maxLength: 64 })),
  ...ClientExtras,
});

export const sessionRoutes: FastifyPluginAsyncTypebox<GotrueOptions> = async (app, options) => {
  const { auth, flows, pkce, redirects, limit, settings } = options;
  const answer = userAnswers(options.identities, settings);
  // The claims of a grant whose method is fixed, made once: a closure made per request cost a
  // refresh's handler a sixth of its own CPU (a named closure is a defineProperty under keepNames).
  const claimsOf = {
    anonymous: gotrueClaims(settings.audience, 'anonymous'),
    password: gotrueClaims(settings.audience, 'password'),
    refresh: gotrueClaims(settings.audience, 'token_refresh'),
  };

  app.post(
    '/signup',
    {
      schema: { body: SignUpBody, querystring: RedirectQuery },
      // Anonymous sign-ins count in a family of their own (GoTrue's anonymous users limit); while
      // they are off, their refusal writes nothing and counts nowhere.
      preHandler: async (request, reply) => {
        if (!isAnonymousSignUp(request.body)) await limit('signUp').call(app, request, reply);
        else if (settings.anonymousUsers) await limit('anonymous').call(app, request, reply);
      },
    },
    async (request) => {
      const body = request.body;
      const challenge = pkceOf(body);
      if (isAnonymousSignUp(body)) {
        if (!settings.anonymousUsers) throw new AuthError('anonymous_provider_disabled');
        if (!settings.signupEnabled) throw new AuthError('signup_disabled');
        return answer.session(
          await auth.signUpAnonymously(clientOf(request), body.data ?? {}, claimsOf.anonymous),
        );
      }
      if (!settings.signupEnabled) throw new AuthError('signup_disabled');
      if (body.email === undefined || body.password === undefined || body.password === '')
        throw new AuthError('validation_failed', 'Signup requires a valid password');
      const redirectTo = redirects.check(requestedRedirect(request));
      const input = {
        email: body.email,
        password: body.password,
        profile: body.data ?? {},
        redirectTo,
        pkce: challenge,
      };
      // With confirmation on, a taken address answers a look-alike of a new account, as fast, with none
      // of the account's data; its `identities: []` says "taken", as GoTrue's (docs/supabase.md).
      if (settings.confirmEmail)
        return answer.user(await auth.registerToConfirm(clientOf(request), input), {
          confirmationSentAt: options.clock(),
        });
      return answer.session(await auth.signUpConfirmed(clientOf(request), input, claimsOf.password));
    },
  );

  app.post(
    '/token',
    {
      schema: { body: TokenBody, querystring: TokenQuery },
      // Each grant counts in its own family: sign-in attempts and refreshes are limited apart. A
      // password grant's is counted with the sign-in's lookup where the store can (one round trip).
      preHandler: async (request, reply) => {
        const family = request.query.grant_type === 'refresh_token' ? 'refresh' : 'signIn';
        const { email, password } = request.body;
        const checksPassword =
          request.query.grant_type === 'password' && email !== undefined && password !== undefined;
        await (checksPassword ? limit.deferring(family) : limit(family)).call(app, request, reply);
      },
    },
    async (request) => {
      const body = request.body;
      switch (request.query.grant_type) {
        case 'password': {
          // GoTrue's words: no address is a request error; no password, a failed sign-in.
          if (body.email === undefined) throw new AuthError('validation_failed', 'missing email or phone');
          if (body.password === undefined) throw new AuthError('invalid_credentials');
          const { email, password } = body;
          return answer.session(
            await withSignInHit(limit, request, (client) =>
              auth.signIn(client, email, password, claimsOf.password),
            ),
          );
        }
        case 'refresh_token': {
          if (body.refresh_token === undefined)
            throw new AuthError('validation_failed', 'Refresh token is not valid');
          return answer.session(await auth.refresh(clientOf(request), body.refresh_token, claimsOf.refresh));
        }
        case 'id_token':
          return answer.session(await idTokenGrant(options, clientOf(request), body));
        case 'pkce': {
          // A refused session (a ban, a verified MFA factor) spends no flow: the code still works.
          const { issued, providerTokens } = await pkce.exchangeFor(
            body.auth_code ?? '',
            body.code_verifier ?? '',
            async (exchanged) => {
              const { authenticationMethod, pendingLink } = exchanged;
              // A linkIdentity flow links here, for the holder of the starting app's verifier only.
              const user =
                pendingLink === null
                  ? exchanged.user
                  : await linkAtExchange(options, clientOf(request), pendingLink, exchanged.user.id);
              // The session's amr is the flow's method ('email/signup', 'magiclink' ...), as GoTrue's.
              const started = await auth.startSession(
                clientOf(request),
                user,
                gotrueClaims(settings.audience, authenticationMethod),
                'pkce',
              );
              // Not for a password replaced since the flow was spent (the change ended the flow).
              await pkce.assertPasswordStands(exchanged, started.session.id);
              return { issued: started, providerTokens: exchanged.providerTokens };
            },
            // Asked before the flow is spent (and before a linkIdentity flow links, so a refused
            // session links nothing).
            (user) => auth.assertMayStartSession(user),
          );
          const session = await answer.session(issued);
          // An OAuth flow's answer carries the provider's tokens, as GoTrue's (omitted when none).
          if (providerTokens === null) return session;
          return {
            ...session,
            provider_token: providerTokens.accessToken,
            ...(providerTokens.refreshToken !== null
              ? { provider_refresh_token: providerTokens.refreshToken }
              : {}),
          };
        }
      }
    },
  );

  app.post('/logout', { schema: { querystring: LogoutQuery } }, async (request, reply) => {
    const checked = await requireUser(auth, request);
    await auth.signOut(
      clientOf(request),
      checked.session.id,
      checked.user.id,
      request.query.scope ?? 'global',
    );
    return reply.code(204).send();
  });

  app.get('/user', async (request) => {
    // GoTrue's user has its factors (auth-js's mfa.listFactors reads them), read with the user.
    const { user, factors } = await auth.checkWithFactors(bearerOf(request));
    return answer.user(user, { newEmail: await flows.pendingEmailChange(user), factors });
  });

  // Mails the code a password change asks for when reauthentication is required.
  app.get('/reauthenticate', { preHandler: limit('recovery') }, async (request) => {
    const { user } = await requireUser(auth, request);
    await flows.sendReauthentication(clientOf(request), user);
    return {};
  });

  app.put(
    '/user',
    {
      schema: { body: UserUpdateBody, querystring: RedirectQuery },
      // A new address is answered email_exists at once when another account has it: counted as the
      // other routes that mail an address are, or any signed-in (or anonymous) user could ask that
      // of every address at full speed, which sign-up, recovery and magic links never tell.
      preHandler: async (request, reply) => {
        if (request.body.email !== undefined) await limit('recovery').call(app, request, reply);
      },
    },
    async (request) => {
      const body = request.body;
      const challenge = pkceOf(body);
      const checked = await requireUser(auth, request);
      // GoTrue's answers: app_metadata is the administrator's (it reaches the access token, where
      // policies trust it), and restauth keeps no phone.
      if (body.app_metadata !== undefined)
        throw new AuthError('not_admin', 'Updating app_metadata requires admin privileges');
      if (body.phone !== undefined && body.phone !== '') throw new AuthError('phone_provider_disabled');
      const redirectTo = redirects.check(requestedRedirect(request));
      const user = await auth.updateOwnAccount(clientOf(request), checked, {
        ...(body.data !== undefined ? { data: body.data } : {}),
        ...(body.password !== undefined ? { password: body.password } : {}),
        ...(body.email !== undefined ? { email: body.email } : {}),
        ...(body.nonce !== undefined ? { nonce: body.nonce } : {}),
        redirectTo,
        pkce: challenge,
      });
      return answer.user(user, { newEmail: await flows.pendingEmailChange(user) });
    },
  );
};
