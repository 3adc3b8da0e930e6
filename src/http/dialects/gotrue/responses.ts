import { Type, type TSchema } from '@sinclair/typebox';
import type { RouteDocs } from '../../route-docs.js';
import { DISABLED_ROUTES } from './disabled-features.js';

/**
 * What each GoTrue route answers, for the OpenAPI document (src/http/openapi.ts): the shapes of wire.ts
 * and the routes. They describe, they do not filter (objects admit more properties): the answers are
 * checked against them in test/http/openapi.test.ts.
 */

const Timestamp = Type.String({ format: 'date-time' });
const MaybeTimestamp = Type.Union([Timestamp, Type.Null()]);
const Metadata = Type.Record(Type.String(), Type.Unknown());

const WeakPassword = Type.Optional(Type.Object({ reasons: Type.Array(Type.String()) }));
const ErrorBody = Type.Union(
  [
    Type.Object({
      code: Type.Integer({ description: 'the HTTP status' }),
      error_code: Type.String({ description: "GoTrue's error code, e.g. invalid_credentials" }),
      msg: Type.String(),
      weak_password: WeakPassword,
      error_id: Type.Optional(Type.String({ description: 'the request, on a server error' })),
    }),
    Type.Object({
      code: Type.String({ description: "GoTrue's error code, e.g. invalid_credentials" }),
      message: Type.String(),
      weak_password: WeakPassword,
    }),
  ],
  {
    description:
      "GoTrue's error body: {code: <status>, error_code, msg}, or {code, message} for a client that sends X-Supabase-Api-Version 2024-01-01 or later",
  },
);

const Identity = Type.Object(
  {
    identity_id: Type.String({ format: 'uuid', description: "the identity's own id" }),
    id: Type.String({ description: "the user's id at the provider (the email identity's: the user's id)" }),
    user_id: Type.String({ format: 'uuid' }),
    identity_data: Metadata,
    provider: Type.String(),
    last_sign_in_at: Type.Optional(Timestamp),
    created_at: Timestamp,
    updated_at: Timestamp,
    email: Type.Optional(Type.String()),
  },
  { description: "One of the user's identities, as GoTrue's identity object" },
);

const Factor = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    created_at: Timestamp,
    updated_at: Timestamp,
    status: Type.String({ description: 'unverified or verified' }),
    friendly_name: Type.Optional(Type.String()),
    factor_type: Type.String({ description: 'totp, phone or webauthn' }),
    phone: Type.String(),
    last_challenged_at: MaybeTimestamp,
  },
  { description: "An MFA factor, as GoTrue's factor object (no secret)" },
);

const User = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    aud: Type.String({ description: "the user's audience: its aud column, else jwt.audience" }),
    role: Type.String(),
    email: Type.String(),
    email_confirmed_at: MaybeTimestamp,
    invited_at: Type.Optional(Timestamp),
    phone: Type.String(),
    confirmed_at: MaybeTimestamp,
    confirmation_sent_at: Type.Optional(Timestamp),
    new_email: Type.Optional(Type.String()),
    last_sign_in_at: MaybeTimestamp,
    banned_until: Type.Optional(Timestamp),
    app_metadata: Metadata,
    user_metadata: Metadata,
    identities: Type.Array(Identity),
    created_at: Timestamp,
    updated_at: Timestamp,
    is_anonymous: Type.Boolean(),
    factors: Type.Optional(
      Type.Array(Factor, { description: 'Its MFA factors, when it has some (admin routes, GET /user)' }),
    ),
  },
  { description: "A user, as GoTrue's user object" },
);

const Session = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('bearer'),
    expires_in: Type.Integer({ description: 'seconds' }),
    expires_at: Type.Integer({ description: 'Unix time, seconds' }),
    refresh_token: Type.String(),
    user: User,
    provider_token: Type.Optional(
      Type.String({ description: "An OAuth sign-in's PKCE exchange: the provider's access token" }),
    ),
    provider_refresh_token: Type.Optional(
      Type.String({ description: "An OAuth sign-in's PKCE exchange: the provider's refresh token, if any" }),
    ),
  },
  { description: 'A new session' },
);

const Empty = Type.Object(
  {},
  { description: 'Accepted (the same answer whether or not the address exists)' },
);
const NoContent = Type.Null({ description: 'No content' });
const Html = Type.String({ description: 'An HTML page', contentMediaType: 'text/html' });

/** The errors every route may answer, in GoTrue's shape. */
function withErrors(ok: Record<number, TSchema>, errors: number[] = [400, 422, 429, 500, 503]) {
  return { ...Object.fromEntries(errors.map((status) => [status, ErrorBody])), ...ok };
}

const AUTHED_ERRORS = [400, 401, 403, 422, 429, 500, 503];

/** The routes of features restauth does not have: each answers GoTrue's error for a disabled feature. */
function disabledFeatureDocs(): RouteDocs {
  const docs: RouteDocs = {};
  for (const route of DISABLED_ROUTES) {
    const checked = route.caller === 'anyone' ? [] : [401, 403];
    const refusal = route.refusal();
    // eslint-disable-next-line no-restricted-syntax -- keys of a fixed list of routes
    docs[`${route.method} ${route.url}`] = {
      summary: `${route.summary}: disabled (${refusal.message})`,
      ...(route.caller === 'anyone' ? {} : { bearer: true }),
      response: withErrors({}, [refusal.status, ...checked, 500]),
    };
  }
  return docs;
}

export const gotrueResponses: RouteDocs = {
  ...disabledFeatureDocs(),
  'GET /settings': {
    summary: "The server's public settings",
    response: withErrors(
      {
        200: Type.Object({
          external: Type.Record(Type.String(), Type.Boolean()),
          disable_signup: Type.Boolean(),
          mailer_autoconfirm: Type.Boolean(),
          phone_autoconfirm: Type.Boolean(),
          sms_provider: Type.String(),
          saml_enabled: Type.Boolean(),
        }),
      },
      [500],
    ),
  },
  'GET /health': {
    summary: 'Health of the API (503 while its store is not ready)',
    response: withErrors(
      { 200: Type.Object({ name: Type.String(), version: Type.String(), description: Type.String() }) },
      [500, 503],
    ),
  },
  'GET /.well-known/jwks.json': {
    summary: 'The public signing keys (none for an HS256 secret)',
    response: withErrors(
      { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
      [500],
    ),
  },
  'POST /signup': {
    summary: 'Sign up with an email address and a password',
    description:
      'With email confirmation on, answers the user (a look-alike for a taken address) and mails a link; ' +
      'otherwise answers a session.',
    response: withErrors({ 200: Type.Union([Session, User]) }),
  },
  'POST /token': {
    summary:
      "Sign in (grant_type=password, pkce, or id_token: an OIDC provider's id_token) or refresh a session (grant_type=refresh_token)",
    response: withErrors({ 200: Session }, [400, 403, 422, 429, 500, 503]),
  },
  'POST /logout': {
    summary: 'Sign out this session, every session (global), or the others',
    bearer: true,
    response: withErrors({ 204: NoContent }, AUTHED_ERRORS),
  },
  'GET /user': {
    summary: 'The signed-in user',
    bearer: true,
    response: withErrors({ 200: User }, AUTHED_ERRORS),
  },
  'PUT /user': {
    summary: "Change the signed-in user's metadata, password or email address",
    bearer: true,
    response: withErrors({ 200: User }, AUTHED_ERRORS),
  },
  'GET /user/identities/authorize': {
    summary: 'Link an OAuth identity to the signed-in user (auth-js linkIdentity; identities.manualLinking)',
    description:
      "Redirects to the provider (or answers {url} with skip_http_redirect=true); the provider's callback links " +
      'the identity to this user instead of signing in. 404 manual_linking_disabled while the setting is off.',
    bearer: true,
    response: withErrors(
      {
        200: Type.Object({ url: Type.String() }),
        302: Type.Null({ description: 'To the provider' }),
      },
      [...AUTHED_ERRORS, 404],
    ),
  },
  'DELETE /user/identities/:id': {
    summary:
      "Unlink one of the signed-in user's identities (auth-js unlinkIdentity; identities.manualLinking)",
    description:
      'A user keeps at least one identity (422 single_identity_not_deletable), and the email identity of ' +
      'its address (422 email_conflict_identity_not_deletable). 404 manual_linking_disabled while the setting is off.',
    bearer: true,
    response: withErrors({ 200: Type.Object({}) }, [...AUTHED_ERRORS, 404]),
  },
  'GET /reauthenticate': {
    summary: 'Mail the signed-in user a code (nonce) for a password change that needs reauthentication',
    bearer: true,
    response: withErrors({ 200: Empty }, AUTHED_ERRORS),
  },
  'POST /recover': {
    summary: 'Mail a password recovery link and code',
    response: withErrors({ 200: Empty }),
  },
  'POST /otp': {
    summary: 'Mail a magic link and code (signing the address up unless create_user is false)',
    response: withErrors({ 200: Empty }),
  },
  'POST /resend': {
    summary: 'Mail a sign-up or email-change confirmation again',
    response: withErrors({ 200: Empty }),
  },
  'POST /verify': {
    summary: 'Verify a mailed token_hash, or an address and its code',
    description:
      'As JSON (auth-js verifyOtp): answers a session, or a message while an email change waits for ' +
      'its other address. As the hosted form: answers a page or a redirect to the app.',
    response: withErrors(
      {
        200: Type.Union([Session, Type.Object({ msg: Type.String(), code: Type.Literal(200) }), Html]),
        303: Type.Null({ description: 'To the app, with the session in the URL fragment' }),
      },
      [400, 403, 422, 429, 500, 503],
    ),
  },
  'GET /authorize': {
    summary:
      'OAuth or OIDC sign-in: leads to the provider (provider, redirect_to, scopes, PKCE code_challenge)',
    response: withErrors(
      {
        302: Type.Null({
          description: "To the provider's authorization endpoint, with state, nonce and PKCE",
        }),
      },
      [400, 429, 500, 503],
    ),
  },
  'GET /authorize/continue': {
    summary: "linkIdentity's address: sets the flow's browser cookie and leads on to the provider",
    description:
      'The {url} of GET /user/identities/authorize (identities.oauthBrowserBinding): signed by restauth, ' +
      'so it leads only to the provider address it was made for. 400 bad_oauth_state otherwise.',
    response: withErrors({ 302: Type.Null({ description: 'To the provider' }) }, [400]),
  },
  'GET /callback': {
    summary: "The provider's callback: signs the user in and leads back to the app",
    description:
      'To redirect_to (or the site URL): the session in the fragment (implicit flow), or ?code= for ' +
      'grant_type=pkce; errors as error, error_code and error_description in the query and fragment.',
    response: withErrors(
      {
        302: Type.Null({ description: 'To the app, signed in or with the error' }),
        303: Type.Null({
          description: 'To the site URL, with the error of a state unknown, spent or expired',
        }),
      },
      [400, 500],
    ),
  },
  'POST /callback': {
    summary: "The provider's callback by form post (response_mode=form_post), as GET /callback",
    response: withErrors(
      {
        302: Type.Null({ description: 'To the app, signed in or with the error' }),
        303: Type.Null({
          description: 'To the site URL, with the error of a state unknown, spent or expired',
        }),
      },
      [400, 500],
    ),
  },
  'GET /verify': {
    summary: 'The page a mailed link opens: a button that spends the token (scanners do not)',
    response: { 200: Html, 400: Html },
  },
  'GET /admin/users': {
    summary: 'List users, newest first (X-Total-Count, Link)',
    bearer: true,
    response: withErrors(
      { 200: Type.Object({ users: Type.Array(User), aud: Type.String() }) },
      AUTHED_ERRORS,
    ),
  },
  'POST /admin/users': {
    summary: 'Create a user',
    bearer: true,
    response: withErrors({ 200: User }, AUTHED_ERRORS),
  },
  'GET /admin/users/:id': {
    summary: 'A user',
    bearer: true,
    response: withErrors({ 200: User }, [...AUTHED_ERRORS, 404]),
  },
  'PUT /admin/users/:id': {
    summary: 'Change a user (address, password, metadata, confirmation, ban)',
    bearer: true,
    response: withErrors({ 200: User }, [...AUTHED_ERRORS, 404]),
  },
  'DELETE /admin/users/:id': {
    summary: 'Delete a user',
    bearer: true,
    response: withErrors({ 200: Type.Object({}) }, [...AUTHED_ERRORS, 404]),
  },
  'GET /admin/users/:id/factors': {
    summary: "A user's MFA factors (GoTrue's auth.mfa_factors; none on files)",
    bearer: true,
    response: withErrors({ 200: Type.Array(Factor) }, [...AUTHED_ERRORS, 404]),
  },
  'PUT /admin/users/:id/factors/:factorId': {
    summary: "Rename a user's MFA factor (friendly_name; a phone factor's phone)",
    bearer: true,
    response: withErrors({ 200: Factor }, [...AUTHED_ERRORS, 404, 422]),
  },
  'DELETE /admin/users/:id/factors/:factorId': {
    summary: "Remove a user's MFA factor: a verified one keeps its user out (insufficient_aal)",
    bearer: true,
    response: withErrors({ 200: Factor }, [...AUTHED_ERRORS, 404]),
  },
  'POST /invite': {
    summary: 'Invite an address by mail: its link confirms the address and signs in',
    bearer: true,
    response: withErrors({ 200: User }, AUTHED_ERRORS),
  },
  'POST /admin/generate_link': {
    summary: 'Make a sign-up, invite, magic-link or recovery link without mailing it',
    bearer: true,
    response: withErrors(
      {
        200: Type.Intersect([
          User,
          Type.Object({
            action_link: Type.String(),
            email_otp: Type.String(),
            hashed_token: Type.String(),
            redirect_to: Type.Union([Type.String(), Type.Null()]),
            verification_type: Type.String(),
          }),
        ]),
      },
      AUTHED_ERRORS,
    ),
  },
  'GET /admin/audit': {
    summary: 'The audit log, newest first (X-Total-Count)',
    bearer: true,
    response: withErrors(
      {
        200: Type.Array(
          Type.Object({
            id: Type.String(),
            created_at: Timestamp,
            ip_address: Type.String(),
            payload: Type.Object({
              action: Type.String(),
              actor_id: Type.Union([Type.String(), Type.Null()]),
              user_id: Type.Union([Type.String(), Type.Null()]),
              traits: Type.Unknown(),
            }),
          }),
        ),
      },
      AUTHED_ERRORS,
    ),
  },
};
