import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AdminUserInput } from '../../../core/admin-service.js';
import type { User } from '../../../core/ports/store.js';
import { AuthError } from '../../../core/errors.js';
import { onAdminUserId } from './admin-user-id.js';
import { requireAdmin, type GotrueOptions } from './context.js';
import { Email, Metadata, RedirectQuery, RedirectTarget, requestedRedirect } from './schemas.js';
import { userAnswers } from './user-answers.js';
import { clientOf } from '../../client.js';

/** GoTrue's admin API, for service-role tokens only; every action lands in the audit log. */
const UNSUPPORTED_USER_FIELDS = ['role', 'aud', 'password_hash', 'id', 'phone', 'phone_confirm'] as const;
const UserBody = Type.Object({
  email: Type.Optional(Email),
  password: Type.Optional(Type.String({ minLength: 1 })),
  email_confirm: Type.Optional(Type.Boolean()),
  user_metadata: Type.Optional(Metadata),
  app_metadata: Type.Optional(Metadata),
  ban_duration: Type.Optional(Type.String({ maxLength: 64 })),
  // GoTrue's, which restauth does not write: named so that they are refused (adminInput), not dropped
  // under a 200 that said they were written (an import whose password_hash was dropped made accounts
  // without their passwords).
  ...Object.fromEntries(UNSUPPORTED_USER_FIELDS.map((name) => [name, Type.Optional(Type.Unknown())])),
});
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const PageQuery = Type.Object({
  // auth-js sends an empty string for an unset page.
  page: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,8})?$' })),
  per_page: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,3})?$' })),
});
const LinkBody = Type.Object({
  type: Type.Union([
    Type.Literal('signup'),
    Type.Literal('invite'),
    Type.Literal('magiclink'),
    Type.Literal('recovery'),
    Type.Literal('email_change_current'),
    Type.Literal('email_change_new'),
  ]),
  email: Email,
  // Checked by core: GoTrue words an empty one "An email address is required".
  new_email: Type.Optional(Type.String({ maxLength: 320 })),
  password: Type.Optional(Type.String({ minLength: 1 })),
  data: Type.Optional(Metadata),
  redirect_to: Type.Optional(RedirectTarget),
});
const InviteBody = Type.Object({
  email: Email,
  data: Type.Optional(Metadata),
  redirect_to: Type.Optional(RedirectTarget),
});
const MAX_PER_PAGE = 1000;

function adminInput(body: Static<typeof UserBody>): AdminUserInput {
  const unsupported = UNSUPPORTED_USER_FIELDS.filter(
    (name) => (body as Record<string, unknown>)[name] !== undefined,
  );
  if (unsupported.length > 0) {
    throw new AuthError(
      'validation_failed',
      `restauth does not support ${unsupported.join(', ')} in the admin API: nothing was written`,
    );
  }
  return {
    email: body.email,
    password: body.password,
    emailConfirm: body.email_confirm,
    profile: body.user_metadata,
    appMetadata: body.app_metadata,
    // GoTrue ignores an empty ban_duration.
    banDuration: body.ban_duration || undefined,
  };
}

function paging(query: Static<typeof PageQuery>): { page: number; perPage: number } {
  const page = Number(query.page || '1');
  const perPage = Number(query.per_page || '50');
  if (perPage > MAX_PER_PAGE) throw new AuthError('validation_failed', `per_page is at most ${MAX_PER_PAGE}`);
  return { page, perPage };
}

/** GoTrue's paging headers, which auth-js's listUsers reads (nextPage, lastPage, total). */
function pageLinks(path: string, page: number, perPage: number, total: number): string {
  const last = Math.max(1, Math.ceil(total / perPage));
  const link = (n: number, rel: string) => `<${path}?page=${n}&per_page=${perPage}>; rel="${rel}"`;
  return [...(page < last ? [link(page + 1, 'next')] : []), link(last, 'last')].join(', ');
}

export const adminRoutes: FastifyPluginAsyncTypebox<GotrueOptions> = async (app, options) => {
  const { admin, audit, redirects, settings } = options;
  const answer = userAnswers(options.identities, settings);
  // Before validation: a caller without the role learns nothing about the routes' inputs.
  app.addHook('onRequest', async (request) => requireAdmin(options, request));

  app.get('/admin/users', { schema: { querystring: PageQuery } }, async (request, reply) => {
    const { page, perPage } = paging(request.query);
    const { users, total } = await admin.listUsers(page, perPage);
    void reply
      .header('X-Total-Count', String(total))
      .header('Link', pageLinks(`${settings.mountPath}/admin/users`, page, perPage, total));
    return { users: await answer.users(users), aud: settings.audience };
  });

  app.post('/admin/users', { schema: { body: UserBody } }, async (request) =>
    answer.user(await admin.createUser(clientOf(request), adminInput(request.body))),
  );

  /** One user as GoTrue's admin routes answer it: with its MFA factors (GoTrue loads them with the user). */
  const withFactors = async (user: User) => answer.user(user, { factors: await admin.factorsOf(user.id) });

  app.get('/admin/users/:id', { schema: { params: IdParams } }, async (request) => {
    const { id } = request.params;
    return withFactors(await onAdminUserId(id, () => admin.getUser(id)));
  });

  app.put('/admin/users/:id', { schema: { params: IdParams, body: UserBody } }, async (request) => {
    const { id } = request.params;
    const input = adminInput(request.body);
    return withFactors(await onAdminUserId(id, () => admin.updateUser(clientOf(request), id, input)));
  });

  app.delete('/admin/users/:id', { schema: { params: IdParams } }, async (request) => {
    const { id } = request.params;
    await onAdminUserId(id, () => admin.deleteUser(clientOf(request), id));
    return {};
  });

  // auth-js's inviteUserByEmail sends redirect_to in the query string, other clients in the body.
  app.post('/invite', { schema: { body: InviteBody, querystring: RedirectQuery } }, async (request) => {
    const redirectTo = redirects.check(requestedRedirect(request));
    const user = await admin.inviteUser(clientOf(request), {
      email: request.body.email,
      profile: request.body.data,
      redirectTo,
    });
    // GoTrue sets confirmation_sent_at with invited_at: the invitation is the address's confirmation.
    return answer.user(user, { confirmationSentAt: user.invitedAt });
  });

  app.post('/admin/generate_link', { schema: { body: LinkBody } }, async (request) => {
    const body = request.body;
    const generated = await admin.generateLink(clientOf(request), {
      type: body.type,
      email: body.email,
      password: body.password,
      profile: body.data,
      newEmail: body.new_email,
      redirectTo: redirects.check(body.redirect_to),
    });
    return {
      ...(await answer.user(generated.user)),
      action_link: generated.link,
      email_otp: generated.code,
      hashed_token: generated.token,
      redirect_to: generated.redirectTo,
      verification_type: generated.type,
    };
  });

  // GoTrue's audit log listing: newest first, with the total in X-Total-Count.
  app.get('/admin/audit', { schema: { querystring: PageQuery } }, async (request, reply) => {
    const { page, perPage } = paging(request.query);
    const { events, total } = await audit.list({ page, perPage });
    void reply.header('X-Total-Count', String(total));
    return events.map((event) => ({
      id: event.id,
      created_at: event.at.toISOString(),
      ip_address: event.ip ?? '',
      payload: { action: event.action, actor_id: event.actorId, user_id: event.userId, traits: event.data },
    }));
  });
};
