import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { postgrestRequest } from '../support/postgrest.js';
import { usePostgrestApp } from '../support/postgrest-app.js';

const SECRET = 'anonymous-rls-secret-0123456789abcdef0123';

/**
 * A table of rows each user owns (`user_id`, auth.uid() by default) with `column`, its owner-only
 * policy, and a restrictive insert check when `permanentOnly` is given (named, and its condition).
 */
function ownedTable(name: string, column: string, permanentOnly?: { policy: string; check: string }): string {
  const restrictive = permanentOnly
    ? `create policy "${permanentOnly.policy}" on public.${name} as restrictive for insert to authenticated
  with check (${permanentOnly.check});`
    : '';
  return `create table public.${name} (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references auth.users on delete cascade,
  ${column}
);
alter table public.${name} enable row level security;
create policy "Own ${name}" on public.${name} for all to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
${restrictive}
grant select, insert on public.${name} to authenticated;`;
}

/**
 * The access control Supabase's anonymous sign-ins guide writes: anonymous users are `authenticated`,
 * and a restrictive policy reading the token's is_anonymous claim keeps them out of what only
 * permanent users may do. Reviews are kept from anonymous users by a policy written the other way
 * round, which takes a token that does not say is_anonymous for a permanent user's.
 */
const SCHEMA = [
  ownedTable('carts', 'item text not null'),
  ownedTable('orders', 'total int not null', {
    policy: 'Only permanent users can order',
    check: "(select (auth.jwt() ->> 'is_anonymous')::boolean) is false",
  }),
  ownedTable('reviews', 'stars int not null', {
    policy: 'No anonymous reviews',
    check: "(select auth.jwt() ->> 'is_anonymous') is distinct from 'true'",
  }),
  // A deny-list on what an administrator set in app_metadata, which only the token tells PostgREST.
  ownedTable('comments', 'body text not null', {
    policy: 'No comments from blocked users',
    check: "(select auth.jwt() -> 'app_metadata' ->> 'blocked') is distinct from 'true'",
  }),
].join('\n\n');

describe('an anonymous user under PostgREST: the is_anonymous claim in RLS policies', () => {
  const app = usePostgrestApp({
    secret: SECRET,
    anonRole: 'anon',
    authenticatedRole: 'authenticated',
    config: {
      signup: { anonymousUsers: true, confirmEmail: false },
      // The other dialects, whose routes also issue tokens of a GoTrue user's session.
      dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
    },
    schema: SCHEMA,
  });
  const { rest } = app;

  const call = async (method: 'POST' | 'PUT', path: string, payload: unknown, token?: string) => {
    const res = await app.t.app.inject({
      method,
      url: `/auth/v1${path}`,
      payload: payload as Record<string, unknown>,
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { access_token: string; refresh_token: string; user: { id: string } };
  };

  it('fills a cart while anonymous, may not order until permanent, and keeps the cart', async () => {
    const anonymous = await call('POST', '/signup', { data: {} });
    const carts = await postgrestRequest<{ user_id: string }>(
      app.pool,
      rest,
      anonymous.access_token,
      `INSERT INTO public.carts (item) VALUES ('book') RETURNING user_id::text AS user_id`,
    );
    assert.deepEqual(carts, [{ user_id: anonymous.user.id }]);
    await assert.rejects(
      postgrestRequest(
        app.pool,
        rest,
        anonymous.access_token,
        'INSERT INTO public.orders (total) VALUES (12)',
      ),
      /row-level security/u,
    );

    await call('PUT', '/user', { email: 'shopper@example.com' }, anonymous.access_token);
    const permanent = await call('POST', '/token?grant_type=refresh_token', {
      refresh_token: anonymous.refresh_token,
    });
    assert.equal(permanent.user.id, anonymous.user.id);
    const orders = await postgrestRequest<{ total: number }>(
      app.pool,
      rest,
      permanent.access_token,
      'INSERT INTO public.orders (total) VALUES (12) RETURNING total',
    );
    assert.deepEqual(orders, [{ total: 12 }]);
    const kept = await postgrestRequest<{ item: string }>(
      app.pool,
      rest,
      permanent.access_token,
      'SELECT item FROM public.carts',
    );
    assert.deepEqual(kept, [{ item: 'book' }]);
  });

  /** The token json-data-server's refresh issues for `session`. */
  const exchangedToken = async (session: { refresh_token: string }) => {
    const exchanged = await app.t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refresh_token: session.refresh_token },
    });
    assert.equal(exchanged.statusCode, 200, exchanged.body);
    return exchanged.json<{ access_token: string }>().access_token;
  };

  const reissue = (session: { access_token: string }) =>
    app.t.app.inject({
      method: 'POST',
      url: '/pg/refresh_token',
      headers: { authorization: `Bearer ${session.access_token}` },
    });

  /** The tokens of `session` other dialects' routes issue: json-data-server's refresh, postgrest-auth's re-issue. */
  const dialectTokens = async (session: { access_token: string; refresh_token: string }) => {
    const reissued = await reissue(session);
    assert.equal(reissued.statusCode, 200, reissued.body);
    return {
      "json-data-server's refresh": await exchangedToken(session),
      "postgrest-auth's bearer refresh": reissued.json<{ access_token: string }>().access_token,
    };
  };

  it("says is_anonymous in json-data-server's token of its session; postgrest-auth issues none", async () => {
    const anonymous = await call('POST', '/signup', { data: {} });
    const token = await exchangedToken(anonymous);
    assert.equal(decodeJwt(token)['is_anonymous'], true);
    await assert.rejects(
      postgrestRequest(app.pool, rest, token, 'INSERT INTO public.reviews (stars) VALUES (1)'),
      /row-level security/u,
    );
    // postgrest-auth had no anonymous users: its era's schemas would take the token for a member's.
    const reissued = await reissue(anonymous);
    assert.equal(reissued.statusCode, 400, reissued.body);
    assert.equal(reissued.json<{ error: string }>().error, 'forbidden');
  });

  it("carries app_metadata, aal and email in every dialect's token of a GoTrue user", async () => {
    const signUp = (email: string) => call('POST', '/signup', { email, password: 'a real passphrase 9' });
    const open = await signUp('open@example.com');
    const blocked = await signUp('blocked@example.com');
    await app.t.services.admin.updateUser(LOCAL_CALL, blocked.user.id, { appMetadata: { blocked: true } });
    const comment = (token: string) =>
      postgrestRequest(
        app.pool,
        rest,
        token,
        "INSERT INTO public.comments (body) VALUES ('hi') RETURNING body",
      );
    // The attack: a blocked user's session exchanged at another dialect's route.
    for (const [route, token] of Object.entries(await dialectTokens(blocked))) {
      await assert.rejects(comment(token), /row-level security/u, route);
    }
    for (const [route, token] of Object.entries(await dialectTokens(open))) {
      const claims = decodeJwt(token);
      assert.equal(claims['email'], 'open@example.com', route);
      assert.equal(claims['aal'], 'aal1', route);
      assert.deepEqual(claims['app_metadata'], { provider: 'email', providers: ['email'] }, route);
      assert.deepEqual(await comment(token), [{ body: 'hi' }], route);
    }
  });
});
