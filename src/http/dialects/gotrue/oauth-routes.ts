import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { IssuedSession } from '../../../core/auth-service.js';
import { AuthError, isAuthError } from '../../../core/errors.js';
import { pkceChallenge } from '../../../core/pkce.js';
import type { OAuthFlow } from '../../../core/ports/flow-states.js';
import { identityDataOf } from '../../../core/oauth/identity-data.js';
import { ProviderAnswerRefused } from '../../../core/oauth/client.js';
import type { ProviderTokens } from '../../../core/oauth/provider.js';
import type { PendingLink } from '../../../core/oauth/pending-link.js';
import type { ConfiguredProvider } from '../../../core/oauth/registry.js';
import {
  bringsBinding,
  clearBindingCookie,
  setBindingCookie,
  type BindingTarget,
} from './oauth-browser-binding.js';
import type { OAuthCallbackRefusal } from '../../../core/ports/events.js';
import type { GotrueOptions } from './context.js';
import { providerNotEnabled } from './disabled-features.js';
import { RedirectTarget } from './schemas.js';
import { gotrueClaims } from './wire.js';
import { clientOf } from '../../client.js';

/**
 * OAuth and OIDC sign-in (GoTrue's external.go): GET /authorize sends the
 * user to the provider with a state (a flow-state row, see OAuthFlows), the
 * nonce and restauth's own PKCE challenge; the provider's GET (or form POST)
 * /callback exchanges the code, reads the user, signs them in (ExternalSignIn)
 * and leads back to the app: the session in the fragment (implicit flow), or
 * `?code=` for the app's PKCE verifier to exchange (grant_type=pkce). Errors
 * at the callback lead back too, as GoTrue's redirectErrors writes them.
 */

export const AuthorizeQuery = Type.Object(
  {
    provider: Type.Optional(Type.String({ maxLength: 100 })),
    scopes: Type.Optional(Type.String({ maxLength: 2000 })),
    redirect_to: Type.Optional(RedirectTarget),
    code_challenge: Type.Optional(Type.String({ maxLength: 200 })),
    code_challenge_method: Type.Optional(Type.String({ maxLength: 20 })),
  },
  // auth-js's queryParams go on to the provider (prompt, access_type, login_hint ...).
  { additionalProperties: Type.String({ maxLength: 2000 }), maxProperties: 30 },
);

const ContinueQuery = Type.Object({
  provider: Type.String({ maxLength: 100 }),
  to: Type.String({ maxLength: 8000 }),
  signature: Type.String({ maxLength: 100 }),
});

const CallbackParams = Type.Object(
  {
    state: Type.Optional(Type.String({ maxLength: 200 })),
    code: Type.Optional(Type.String({ maxLength: 4000 })),
    error: Type.Optional(Type.String({ maxLength: 200 })),
    error_description: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  // The provider may add its own (iss, session_state, scope ...): read by openid-client where it checks them.
  { additionalProperties: Type.String({ maxLength: 4000 }), maxProperties: 20 },
);

/** What the app may not set at the provider: restauth's own parameters of the request (GoTrue's reserved list). */
const RESERVED = new Set([
  'provider',
  'scopes',
  'redirect_to',
  'invite_token',
  'client_id',
  'client_secret',
  'redirect_uri',
  'response_type',
  'state',
  'code_challenge',
  'code_challenge_method',
  'code_verifier',
  'nonce',
  'scope',
  'skip_http_redirect',
]);

/** A provider's own error at the callback (`?error=access_denied`): passed on as it came, as GoTrue's OAuthError. */
class ProviderError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

export const oauthRoutes: FastifyPluginAsyncTypebox<GotrueOptions> = async (app, options) => {
  const { auth, redirects, limit, settings, oauth } = options;

  app.get(
    '/authorize',
    // Each request stores a flow until its callback or the upkeep: counted as a sign-in attempt.
    { schema: { querystring: AuthorizeQuery }, preHandler: limit('signIn') },
    async (request, reply) => {
      const started = await startProviderFlow(options, request.query, null);
      bindToBrowser(options, reply, started);
      return reply.redirect(started.url, 302);
    },
  );

  // linkIdentity's JSON answer leads here first: the browser that follows it gets the flow's cookie.
  app.get('/authorize/continue', { schema: { querystring: ContinueQuery } }, async (request, reply) => {
    const { provider: name, to, signature } = request.query;
    const provider = oauth.clients.get(name);
    const expected = Buffer.from(oauth.flows.continueSignature(`${name}\n${to}`));
    const given = Buffer.from(signature);
    if (provider === undefined || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AuthError('bad_oauth_state', 'OAuth continue address not signed by this server');
    }
    const state = new URL(to).searchParams.get('state') ?? '';
    bindToBrowser(options, reply, { url: to, state, provider });
    return reply.redirect(to, 302);
  });

  const callback = async (params: Record<string, string | undefined>, reply: FastifyReply) => {
    let flow: OAuthFlow;
    let taken;
    try {
      taken = await oauth.flows.take(params['state']);
      flow = taken.flow;
    } catch (error) {
      oauth.events.oauthCallbackRefused('unknown', refusalReason(error, false));
      // No flow, no app address of its own: GoTrue leads to the site URL with the error (303).
      return redirectError(reply, redirects.defaultTarget, error, { fragment: false, status: 303 });
    }
    const target = flow.referrer ?? redirects.defaultTarget;
    const provider = oauth.clients.get(flow.providerType);
    // A flow whose provider was switched off since: its cookie's name is unknown; it expires by itself.
    const binding = provider === undefined ? null : bindingTargetOf(provider);
    if (binding !== null) clearBindingCookie(reply, flow.id, binding);
    try {
      // Without its provider the flow is refused just below (provider_disabled).
      if (
        oauth.flows.bindsBrowser &&
        binding !== null &&
        !bringsBinding(reply.request, flow.id, taken.secrets.browserBinding, binding)
      ) {
        throw new AuthError('bad_oauth_state', 'OAuth state was not started in this browser');
      }
      if (params['error'] !== undefined && params['error'] !== '') {
        throw new ProviderError(params['error'], params['error_description'] ?? '');
      }
      if (params['code'] === undefined || params['code'] === '') {
        throw new AuthError('bad_oauth_callback', 'OAuth callback with missing authorization code missing');
      }
      if (provider === undefined) throw providerNotEnabled(flow.providerType);
      // The start's rule again for a flow stored without it: by an instance of before it (a rolling
      // upgrade) or before identities.implicitLinking was switched off (a restart within 300 s).
      if (flow.linkingTargetId !== null && flow.codeChallenge === null) assertImplicitLinking(options);
      const signedIn = await oauth.clients.finish(
        provider,
        new URLSearchParams(definedEntries(params)),
        flow.id,
        taken.secrets,
      );
      const issuer =
        provider.definition.flavour === 'oidc' ? provider.definition.issuer(provider.settings) : null;
      const linking: PendingLink | null =
        flow.linkingTargetId === null
          ? null
          : {
              sessionId: flow.linkingSessionId,
              provider: provider.settings.name,
              claims: signedIn.claims,
              identityData: identityDataOf(signedIn.claims, issuer),
              redirectTo: flow.referrer,
            };
      if (target === null)
        throw new AuthError('validation_failed', 'No redirect_to and no site URL to lead to');
      // A PKCE flow linkIdentity started links at its code's exchange (see pending-link.ts): the
      // browser that finished it may be anyone's the starter sent its address to.
      if (linking !== null && flow.codeChallenge !== null) {
        const code = await oauth.flows.issueCode(flow, flow.linkingTargetId!, signedIn.tokens, linking);
        return reply.redirect(withCode(target, code), 302);
      }
      // An implicit one links the identity to its user, who is then signed in (GoTrue's
      // linkIdentityToUser); any other flow signs in whoever the provider's user is here.
      const user =
        linking !== null
          ? await options.identityLinking.link(clientOf(reply.request), {
              ...linking,
              targetUserId: flow.linkingTargetId!,
            })
          : await oauth.signIn.signIn(clientOf(reply.request), {
              provider: provider.settings.name,
              claims: signedIn.claims,
              issuer,
              emailOptional: provider.settings.emailOptional,
              redirectTo: flow.referrer,
            });
      if (flow.codeChallenge !== null) {
        // Refused here, as a session would be, not at the code's exchange after both were spent.
        await auth.assertMayStartSession(user);
        const code = await oauth.flows.issueCode(flow, user.id, signedIn.tokens);
        return reply.redirect(withCode(target, code), 302);
      }
      const issued = await auth.startSession(
        clientOf(reply.request),
        user,
        gotrueClaims(settings.audience, 'oauth'),
        'oauth',
      );
      return reply.redirect(withSessionFragment(target, issued, signedIn.tokens), 302);
    } catch (error) {
      oauth.events.oauthCallbackRefused(
        flow.providerType,
        refusalReason(error, flow.linkingTargetId !== null),
      );
      return redirectError(reply, target, error, { fragment: true, status: 302 });
    }
  };

  app.get('/callback', { schema: { querystring: CallbackParams } }, async (request, reply) =>
    callback(request.query, reply),
  );
  // Providers that answer with response_mode=form_post (Apple) POST the same parameters.
  app.post('/callback', { schema: { body: CallbackParams } }, async (request, reply) =>
    callback(request.body, reply),
  );
};

/**
 * Starts a sign-in (GET /authorize) or, with `linking`, linkIdentity's flow
 * (GET /user/identities/authorize): the flow stored, and the provider's address to send the user to.
 * 400 for a provider that is not enabled or a malformed PKCE challenge.
 */
export async function startProviderFlow(
  options: GotrueOptions,
  query: Static<typeof AuthorizeQuery>,
  linking: { userId: string; sessionId: string } | null,
): Promise<StartedProviderFlow> {
  const { oauth, redirects } = options;
  const name = query.provider ?? '';
  const provider = oauth.clients.get(name);
  if (provider === undefined) throw providerNotEnabled(name);
  const challenge = pkceChallenge(query.code_challenge, query.code_challenge_method);
  // Without PKCE a link's callback links in whichever browser finishes the flow: one the starter
  // sent the address to links its owner's identity to the starter's account. With it, the exchange
  // links, and only the starting app holds the verifier (core/oauth/pending-link.ts).
  if (linking !== null && challenge === null) assertImplicitLinking(options);
  const referrer = redirects.check(query.redirect_to);
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    // eslint-disable-next-line no-restricted-syntax -- a plain record of strings, sent as query parameters only
    if (!RESERVED.has(key.toLowerCase()) && typeof value === 'string') params[key] = value;
  }
  const { flow, secrets } = await oauth.flows.start({
    provider: provider.settings.name,
    referrer,
    pkce: challenge,
    linking,
  });
  const url = await oauth.clients.authorizationUrl(provider, {
    state: flow.id,
    secrets,
    scopes: query.scopes,
    params,
  });
  return { url, state: flow.id, provider };
}

/** An implicit linkIdentity flow is refused unless identities.implicitLinking is on. */
function assertImplicitLinking(options: GotrueOptions): void {
  if (options.settings.implicitLinking) return;
  throw new AuthError(
    'validation_failed',
    "linkIdentity needs the PKCE flow (auth-js flowType 'pkce'): an implicit one is off (identities.implicitLinking)",
  );
}

/** A started flow: the provider's address to send the browser to, its state and provider. */
export interface StartedProviderFlow {
  url: string;
  state: string;
  provider: ConfiguredProvider;
}

/** Sets the flow's browser-binding cookie on `reply`, unless binding is off. */
export function bindToBrowser(
  options: GotrueOptions,
  reply: FastifyReply,
  started: StartedProviderFlow,
): void {
  const { flows } = options.oauth;
  if (!flows.bindsBrowser) return;
  setBindingCookie(
    reply,
    started.state,
    flows.secretsOf(started.state).browserBinding,
    bindingTargetOf(started.provider),
  );
}

/** Where the provider's redirect reaches restauth, and how: what the flow's cookie is set for. */
function bindingTargetOf(provider: ConfiguredProvider): BindingTarget {
  return {
    callbackUrl: provider.settings.redirectUri,
    formPost: provider.definition.authorizationParams?.['response_mode'] === 'form_post',
  };
}

/**
 * The address linkIdentity's JSON answer gives (the app, or its server, sends the browser there):
 * restauth's continue step, which sets the flow's cookie in that browser and leads on to the
 * provider, signed so it leads nowhere else.
 */
export function continueAddress(options: GotrueOptions, started: StartedProviderFlow): string {
  const { flows } = options.oauth;
  if (!flows.bindsBrowser) return started.url;
  const name = started.provider.settings.name;
  const address = new URL(
    `${options.settings.mountPath}/authorize/continue`,
    started.provider.settings.redirectUri,
  );
  address.searchParams.set('provider', name);
  address.searchParams.set('to', started.url);
  address.searchParams.set('signature', flows.continueSignature(`${name}\n${started.url}`));
  return address.toString();
}

/** The app's address with a PKCE flow's auth code (`?code=`), for its verifier to exchange. */
function withCode(target: string, code: string): string {
  const url = new URL(target);
  url.searchParams.set('code', code);
  return url.toString();
}

function definedEntries(params: Record<string, string | undefined>): [string, string][] {
  return Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined);
}

/** GoTrue's implicit answer (AsRedirectURL): the session, and the provider's tokens, in the fragment. */
function withSessionFragment(target: string, issued: IssuedSession, tokens: ProviderTokens): string {
  const fragment = new URLSearchParams({
    access_token: issued.accessToken,
    token_type: 'bearer',
    expires_in: String(issued.expiresIn),
    expires_at: String(issued.expiresAt),
    refresh_token: issued.refreshToken,
    provider_token: tokens.accessToken,
  });
  if (tokens.refreshToken !== null) fragment.set('provider_refresh_token', tokens.refreshToken);
  const url = new URL(target);
  url.hash = fragment.toString();
  return url.toString();
}

/** Why a callback signed nobody in, for the metrics (a closed list, never the provider's own words). */
export function refusalReason(error: unknown, linking: boolean): OAuthCallbackRefusal {
  if (error instanceof ProviderError) return 'provider_error';
  if (error instanceof ProviderAnswerRefused) return error.reason;
  if (!isAuthError(error)) return 'other';
  switch (error.code) {
    case 'bad_oauth_state':
      return 'state';
    case 'bad_oauth_callback':
      return 'callback';
    case 'signup_disabled':
      return 'signup_disabled';
    case 'user_banned':
      return 'user_banned';
    case 'provider_email_needs_verification':
      return 'email_unverified';
    // The provider gave no address (and one is needed): its profile is not enough to sign in with.
    case 'unexpected_failure':
      return 'profile';
    default:
      return linking ? 'identity' : 'other';
  }
}

/** GoTrue's `error` of an error code or status (getErrorQueryString, oauthErrorMap). */
function oauthErrorName(error: AuthError): string {
  if (['signup_disabled', 'user_banned', 'provider_email_needs_verification'].includes(error.code)) {
    return 'access_denied';
  }
  const byStatus: Record<number, string> = {
    400: 'invalid_request',
    401: 'unauthorized_client',
    403: 'access_denied',
    500: 'server_error',
    503: 'temporarily_unavailable',
  };
  return byStatus[error.status] ?? 'server_error';
}

/**
 * Leads back with the error, as GoTrue: `error`, `error_code`, `error_description` in the query
 * and (for the callback's errors) in the fragment with `sb`. Without an address to lead to, the
 * error is answered as JSON. A fault that is no AuthError is rethrown (logged, 500).
 */
function redirectError(
  reply: FastifyReply,
  target: string | null,
  error: unknown,
  options: { fragment: boolean; status: 302 | 303 },
) {
  let params: Record<string, string>;
  if (error instanceof ProviderError) {
    params = { error: error.error, error_description: error.description };
  } else if (isAuthError(error)) {
    if (error.status >= 500) reply.log.error({ err: error }, 'OAuth callback failed');
    params = { error: oauthErrorName(error), error_code: error.code, error_description: error.message };
  } else {
    throw error;
  }
  if (target === null) {
    if (error instanceof ProviderError) throw new AuthError('validation_failed', error.description);
    throw error;
  }
  const url = new URL(target);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  if (options.fragment) url.hash = new URLSearchParams({ ...params, sb: '' }).toString();
  return reply.redirect(url.toString(), options.status);
}
