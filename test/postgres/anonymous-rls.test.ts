import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { authenticatorRoleSql, postgrestRequest, type PostgrestOptions } from '../support/postgrest.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';

const SECRET = 'anonymous-rls-secret-0123456789abcdef0123';

/**
 * The access control Supabase's anonymous sign-ins guide writes: anonymous users are `authenticated`,
 * and a restrictive policy reading the token's is_anonymous claim keeps them out of what only
 * permanent users may do.
 */
const SCHEMA = `
create table public.carts (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references auth.users on delete cascade,
  item text not null
);
alter table public.carts enable row level security;
create policy "Own carts" on public.carts for all to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);

create table public.orders (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references auth.users on delete cascade,
  total int not null
);
alter table public.orders enable row level security;
create policy "Own orders" on public.orders for all to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Only permanent users can order" on public.orders as restrictive for insert to authenticated
  with check ((select (auth.jwt() ->> 'is_anonymous')::boolean) is false);
grant select, insert on public.carts, public.orders to authenticated;
`;

describe('an anonymous user under PostgREST: the is_anonymous claim in RLS policies', () => {
  let serverUrl: string;
  let url: string;
  let t: TestApp;
  let pool: pg.Pool;
  const authenticator = `authenticator_${randomBytes(3).toString('hex')}`;
  const rest: PostgrestOptions = { secret: SECRET, anonRole: 'anon', preRequest: 'auth.check_token_count' };

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    t = await createTestApp({
      format: 'restauth',
      config: {
        store: testStoreConfig(url),
        roles: { anonymous: 'anon', authenticated: 'authenticated' },
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        signup: { anonymousUsers: true, confirmEmail: false },
      },
      env: { RESTAUTH_JWT_SECRET: SECRET },
    });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(SCHEMA);
      await admin.query(authenticatorRoleSql(authenticator, ['anon', 'authenticated']));
    } finally {
      await admin.end();
    }
    const target = new URL(url);
    target.username = authenticator;
    pool = new pg.Pool({ connectionString: target.toString(), max: 4 });
  });
  after(async () => {
    await pool?.end();
    await t?.close();
    await dropDatabase(serverUrl, url);
  });

  const call = async (method: 'POST' | 'PUT', path: string, payload: unknown, token?: string) => {
    const res = await t.app.inject({
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
      pool,
      rest,
      anonymous.access_token,
      `INSERT INTO public.carts (item) VALUES ('book') RETURNING user_id::text AS user_id`,
    );
    assert.deepEqual(carts, [{ user_id: anonymous.user.id }]);
    await assert.rejects(
      postgrestRequest(pool, rest, anonymous.access_token, 'INSERT INTO public.orders (total) VALUES (12)'),
      /row-level security/u,
    );

    await call('PUT', '/user', { email: 'shopper@example.com' }, anonymous.access_token);
    const permanent = await call('POST', '/token?grant_type=refresh_token', {
      refresh_token: anonymous.refresh_token,
    });
    assert.equal(permanent.user.id, anonymous.user.id);
    const orders = await postgrestRequest<{ total: number }>(
      pool,
      rest,
      permanent.access_token,
      'INSERT INTO public.orders (total) VALUES (12) RETURNING total',
    );
    assert.deepEqual(orders, [{ total: 12 }]);
    const kept = await postgrestRequest<{ item: string }>(
      pool,
      rest,
      permanent.access_token,
      'SELECT item FROM public.carts',
    );
    assert.deepEqual(kept, [{ item: 'book' }]);
  });
});
