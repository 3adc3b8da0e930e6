import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IssuedSession } from '../../../core/auth-service.js';
import type { VerifyOutcome, VerifyType } from '../../../core/email-flows.js';
import { AuthError, isAuthError } from '../../../core/errors.js';
import { splitLinkToken } from '../../../core/flow-states.js';
import { checkEmail } from '../../../core/identity.js';
import { linkErrorPage, pageCsp, REFERRER_POLICY, resultPage, verifyPage } from '../../pages/index.js';
import type { GotrueOptions } from './context.js';
import {
  ClientExtras,
  Email,
  Metadata,
  pkceOf,
  RedirectQuery,
  RedirectTarget,
  requestedRedirect,
} from './schemas.js';
import { userAnswers } from './user-answers.js';
import { gotrueClaims, verifiedMethod } from './wire.js';
import { clientOf } from '../../client.js';
import { isFromOwnPage } from '../../form-from-own-page.js';
import { isWebScheme } from '../../../lib/redirect-schemes.js';

/**
 * The flows that go through a mailbox: recovery, magic links and codes,
 * resending, and verifying a link or code. Mail-sending routes answer at
 * once and the same way for every address; the work happens after the answer.
 *
 * A link from a mail opens a page (GET) whose button POSTs: a mail scanner
 * that fetches links does not spend them.
 */
const VerifyTypeSchema = Type.Union([
  Type.Literal('signup'),
  Type.Literal('invite'),
  Type.Literal('magiclink'),
  Type.Literal('recovery'),
  Type.Literal('email_change'),
  Type.Literal('email'),
]);
const RecoverBody = Type.Object({ email: Email, ...ClientExtras });
const OtpBody = Type.Object({
  email: Email,
  data: Type.Optional(Metadata),
  create_user: Type.Optional(Type.Boolean()),
  ...ClientExtras,
});
const ResendBody = Type.Object({
  email: Email,
  type: Type.Union([Type.Literal('signup'), Type.Literal('email_change')]),
  ...ClientExtras,
});
const VerifyJsonBody = Type.Object({
  type: VerifyTypeSchema,
  token: Type.Optional(Type.String({ maxLength: 200 })),
  token_hash: Type.Optional(Type.String({ maxLength: 200 })),
  email: Type.Optional(Email),
  ...ClientExtras,
});
/** The hosted page's form: the token travels in the query; a recovery form adds the new password. */
const VerifyFormBody = Type.Object(
  {
    password: Type.Optional(Type.String({ maxLength: 4096 })),
    password_confirm: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: false },
);
const VerifyLinkQuery = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 200 }),
  type: VerifyTypeSchema,
  redirect_to: Type.Optional(RedirectTarget),
});

type LinkQuery = Static<typeof VerifyLinkQuery>;

export const emailRoutes: FastifyPluginAsyncTypebox<GotrueOptions> = async (app, options) => {
  const { auth, flows, pkce, redirects, limit, limitKey, settings } = options;

  app.post(
    '/recover',
    { schema: { body: RecoverBody, querystring: RedirectQuery }, preHandler: limit('recovery') },
    async (request) => {
      const challenge = pkceOf(request.body);
      await flows.requestRecovery(request.body.email, redirects.check(requestedRedirect(request)), challenge);
      return {};
    },
  );

  app.post(
    '/otp',
    { schema: { body: OtpBody, querystring: RedirectQuery }, preHandler: limit('recovery') },
    async (request) => {
      const challenge = pkceOf(request.body);
      const redirectTo = redirects.check(requestedRedirect(request));
      const createUser = (request.body.create_user ?? true) && settings.signupEnabled;
      await flows.requestMagicLink(request.body.email, {
        createUser,
        profile: request.body.data ?? {},
        redirectTo,
        pkce: challenge,
      });
      return {};
    },
  );

  app.post(
    '/resend',
    { schema: { body: ResendBody, querystring: RedirectQuery }, preHandler: limit('recovery') },
    async (request) => {
      const challenge = pkceOf(request.body);
      const redirectTo = redirects.check(requestedRedirect(request));
      await flows.requestResend(request.body.email, request.body.type, redirectTo, challenge);
      return {};
    },
  );

  // The API form (auth-js verifyOtp): a token_hash from a link, or an address and its code.
  app.post(
    '/verify',
    {
      schema: { body: Type.Union([VerifyJsonBody, VerifyFormBody]) },
      preHandler: limit('verify'),
    },
    async (request, reply) => {
      if (isForm(request)) return submitLinkForm(request, reply);
      // The union admits either shape; a JSON call must be the API's.
      const body = request.body;
      if (!Value.Check(VerifyJsonBody, body)) {
        throw new AuthError(
          'validation_failed',
          body !== null && typeof body === 'object' && 'type' in body
            ? 'Verify requires either a token or a token hash'
            : 'Verify requires a verification type',
        );
      }
      let secret: { linkToken: string } | { email: string; code: string };
      // A PKCE mail's token_hash carries GoTrue's `pkce_` mark; this API answers the session itself, as GoTrue's.
      if (body.token_hash !== undefined) secret = { linkToken: splitLinkToken(body.token_hash).linkToken };
      else if (body.email !== undefined && body.token !== undefined) {
        // A 6-digit code is guessable: its address gets the verify allowance too, however many
        // clients an attacker spreads the guesses over.
        await limitKey('verify', `address:${checkEmail(body.email)}`);
        secret = { email: body.email, code: body.token };
      } else throw new AuthError('validation_failed', 'Verify requires either a token or a token hash');
      // The session is opened within verify: refused (a verified MFA factor), the token is kept.
      return flows.verify(clientOf(request), body.type, secret, async (outcome) => {
        if (outcome.status === 'email_change_pending') {
          return {
            msg: 'Confirmation link accepted. Please proceed to confirm link sent to the other email',
            code: 200,
          };
        }
        const method = verifiedMethod(body.type, 'code' in secret ? 'code' : 'link');
        const claims = gotrueClaims(settings.audience, method);
        return userAnswers(options.identities, settings).session(
          await auth.startSession(clientOf(request), outcome.user, claims),
        );
      });
    },
  );

  // The link in a mail: a page with a button, never a state change.
  app.get(
    '/verify',
    { schema: { querystring: VerifyLinkQuery }, attachValidation: true },
    async (request, reply) => {
      if (request.validationError || !redirectAllowed(request.query.redirect_to)) {
        return page(reply, 400, linkErrorPage({ appName: settings.appName, reason: 'invalid' }));
      }
      return page(reply, 200, formFor(request.query, request.url), request.query.redirect_to || null);
    },
  );

  function redirectAllowed(target: string | undefined): boolean {
    return target === undefined || target === '' || redirects.isAllowed(target);
  }

  function formFor(query: LinkQuery, url: string, error?: string): string {
    return verifyPage({
      appName: settings.appName,
      action: url,
      type: query.type,
      // With a redirect the app's own page sets the password; without, the hosted form does.
      collectPassword: !query.redirect_to,
      minPasswordLength: settings.minPasswordLength,
      ...(error !== undefined ? { error } : {}),
    });
  }

  async function submitLinkForm(request: FastifyRequest, reply: FastifyReply) {
    const parsed = linkQuery(request.query);
    if (parsed === null || !redirectAllowed(parsed.redirect_to)) {
      return page(reply, 400, linkErrorPage({ appName: settings.appName, reason: 'invalid' }));
    }
    // Another site's form carrying its own token would sign this browser into the attacker's
    // account (login CSRF). Refused before anything is spent: the link still works from its mail.
    if (!isFromOwnPage(request.headers, settings.publicOrigin)) {
      return page(reply, 403, formFor(parsed, request.url, FROM_ANOTHER_SITE), parsed.redirect_to || null);
    }
    const form = request.body as Static<typeof VerifyFormBody>;
    const redirectTo = parsed.redirect_to || null;
    const { linkToken, pkce: endsPkceFlow } = splitLinkToken(parsed.token);
    try {
      if (parsed.type === 'recovery' && redirectTo === null) {
        if (!form.password) return page(reply, 422, formFor(parsed, request.url, 'Enter a new password'));
        if (form.password !== form.password_confirm) {
          return page(reply, 422, formFor(parsed, request.url, 'The passwords do not match'));
        }
        await flows.recoverWithPassword(clientOf(request), linkToken, form.password);
        return page(reply, 200, outcomePage('password_changed'));
      }
      return await flows.verify(clientOf(request), parsed.type, { linkToken }, (outcome) =>
        answerOutcome(reply, outcome, redirectTo, endsPkceFlow),
      );
    } catch (error) {
      if (isAuthError(error) && error.code === 'otp_expired') {
        return page(reply, 403, linkErrorPage({ appName: settings.appName, reason: 'expired_or_used' }));
      }
      if (isAuthError(error) && (error.code === 'weak_password' || error.code === 'validation_failed')) {
        return page(reply, 422, formFor(parsed, request.url, error.message));
      }
      // Any other refusal of the recovery form (a user with a verified MFA factor) shows the page
      // again with its reason, never a JSON body in the browser; the link still works (see
      // EmailFlows.recoverWithPassword).
      if (isAuthError(error) && error.status < 500 && parsed.type === 'recovery' && redirectTo === null) {
        return page(reply, error.status, formFor(parsed, request.url, error.message));
      }
      // A refusal of the session or code the link hands on (a verified MFA factor, a ban): the app's
      // page hears it, as GoTrue's verify redirects its errors, never a JSON body in the browser.
      // The link still works once that is fixed (EmailFlows.verify).
      const target = redirectTo ?? redirects.defaultTarget;
      if (isAuthError(error) && error.status < 500 && target !== null) {
        return reply.redirect(withError(target, error, endsPkceFlow), 303);
      }
      throw error;
    }
  }

  async function answerOutcome(
    reply: FastifyReply,
    outcome: VerifyOutcome,
    redirectTo: string | null,
    endsPkceFlow: boolean,
  ) {
    if (outcome.status === 'email_change_pending')
      return page(reply, 200, outcomePage('email_change_pending'));
    const target = redirectTo ?? redirects.defaultTarget;
    if (target === null) {
      // No app to hand a session to: confirm and say so (a sign-in link then signs in nowhere).
      return page(reply, 200, outcomePage(RESULT_OF[outcome.type]));
    }
    if (endsPkceFlow) {
      // The app gets a code only the client holding the flow's verifier can exchange (POST /token).
      // Refused here, not at the exchange: the code's exchange would be refused after the link and
      // the code were both spent.
      await auth.assertMayStartSession(outcome.user);
      try {
        const code = await pkce.issueCode(outcome.user, outcome.pkceFlowId);
        return reply.redirect(withQuery(target, { code }), 303);
      } catch (error) {
        if (!isAuthError(error) || error.code !== 'flow_state_not_found') throw error;
        return reply.redirect(withError(target, error, true), 303);
      }
    }
    const claims = gotrueClaims(settings.audience, verifiedMethod(outcome.type, 'link'));
    const issued = await auth.startSession(clientOf(reply.request), outcome.user, claims);
    return reply.redirect(withSessionFragment(target, issued, outcome.type), 303);
  }

  function outcomePage(kind: Parameters<typeof resultPage>[0]['kind']): string {
    const continueUrl = redirects.defaultTarget;
    return resultPage({ appName: settings.appName, kind, ...(continueUrl ? { continueUrl } : {}) });
  }
};

/** Why a form sent from another site's page did nothing, and what its reader should do. */
const FROM_ANOTHER_SITE =
  'This request came from another site, so nothing was done. If you opened this link from your own ' +
  'mail, press the button again. If not, close this page: someone may be trying to sign you in to ' +
  'their account.';

const RESULT_OF: Record<VerifyType, Parameters<typeof resultPage>[0]['kind']> = {
  signup: 'email_confirmed',
  email: 'email_confirmed',
  invite: 'email_confirmed',
  magiclink: 'signed_in',
  recovery: 'signed_in',
  email_change: 'email_change_confirmed',
};

/** GoTrue's implicit-flow answer: the session in the URL fragment, which never reaches a server. */
function withSessionFragment(target: string, issued: IssuedSession, type: VerifyType): string {
  const fragment = new URLSearchParams({
    access_token: issued.accessToken,
    expires_at: String(issued.expiresAt),
    expires_in: String(issued.expiresIn),
    refresh_token: issued.refreshToken,
    token_type: 'bearer',
    type,
  });
  const url = new URL(target);
  url.hash = fragment.toString();
  return url.toString();
}

/** GoTrue's PKCE answer: the app's address with `?code=` (prepPKCERedirectURL). */
function withQuery(target: string, params: Record<string, string>): string {
  const url = new URL(target);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

/** GoTrue's OAuth error names by status (api/errors.go oauthErrorMap). */
const OAUTH_ERRORS: ReadonlyMap<number, string> = new Map([
  [400, 'invalid_request'],
  [401, 'unauthorized_client'],
  [403, 'access_denied'],
]);

/**
 * GoTrue's error redirect of a link (prepErrorRedirectURL): the error in the fragment, and for a
 * PKCE link in the query too.
 */
function withError(target: string, error: AuthError, pkceFlow: boolean): string {
  const name = OAUTH_ERRORS.get(error.status);
  const params = {
    ...(name !== undefined ? { error: name } : {}),
    error_code: error.code,
    error_description: error.message,
  };
  const url = new URL(pkceFlow ? withQuery(target, params) : target);
  url.hash = new URLSearchParams({ ...params, sb: '' }).toString();
  return url.toString();
}

function isForm(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

/** The form's POST carries the link's query; checked by the same schema as the GET. */
function linkQuery(query: unknown): LinkQuery | null {
  return Value.Check(VerifyLinkQuery, query) ? query : null;
}

/**
 * The CSP source that lets the page's form lead to `target`: its origin, or for a deep link its
 * scheme (a custom scheme's origin is "null", which would block the app's callback).
 */
function formActionSource(target: string): string {
  const url = new URL(target);
  return isWebScheme(url.protocol) ? url.origin : url.protocol;
}

/** A hosted page's answer: never cached, its Referer kept to restauth (REFERRER_POLICY). */
function page(reply: FastifyReply, status: number, html: string, redirectTo: string | null = null) {
  return reply
    .code(status)
    .header('Content-Security-Policy', pageCsp(redirectTo ? formActionSource(redirectTo) : null))
    .header('Cache-Control', 'no-store')
    .header('Referrer-Policy', REFERRER_POLICY)
    .type('text/html; charset=utf-8')
    .send(html);
}
