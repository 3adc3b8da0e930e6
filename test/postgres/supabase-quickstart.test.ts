import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { postgrestRequest } from '../support/postgrest.js';
import { usePostgrestApp } from '../support/postgrest-app.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

const SECRET = 'supabase-quickstart-secret-0123456789abcdef';

/**
 * The database part of Supabase's "User Management Starter" quick start, as its guide gives it. (Its
 * storage part, avatars in storage.buckets, belongs to Supabase Storage, not to auth.)
 */
const QUICK_START = `
-- Create a table for public profiles
create table profiles (
  id uuid references auth.users on delete cascade not null primary key,
  updated_at timestamp with time zone,
  username text unique,
  full_name text,
  avatar_url text,
  website text,

  constraint username_length check (char_length(username) >= 3)
);
-- Set up Row Level Security (RLS)
-- See https://supabase.com/docs/guides/database/postgres/row-level-security for more details.
alter table profiles
  enable row level security;

create policy "Public profiles are viewable by everyone." on profiles
  for select using (true);

create policy "Users can insert their own profile." on profiles
  for insert with check ((select auth.uid()) = id);

create policy "Users can update own profile." on profiles
  for update using ((select auth.uid()) = id);

-- This trigger automatically creates a profile entry when a new user signs up via Supabase Auth.
-- See https://supabase.com/docs/guides/auth/managing-user-data#using-triggers for more details.
create function public.handle_new_user()
returns trigger
set search_path = ''
as $$
begin
  insert into public.profiles (id, full_name, avatar_url)
  values (new.id, new.raw_user_meta_data->>'full_name', new.raw_user_meta_data->>'avatar_url');
  return new;
end;
$$ language plpgsql security definer;
create trigger on_auth_user_created
  after insert on auth.users
  for each row execute procedure public.handle_new_user();
`;

/**
 * Supabase's quick start SQL runs unchanged on restauth's PostgreSQL schema
 * (migration 14: GoTrue's auth.users with its uuid id and raw_user_meta_data;
 * migration 13: auth.uid() a uuid). Before, `references auth.users` failed
 * ("incompatible types: uuid and integer") and the trigger had no
 * raw_user_meta_data to read. A sign-up through /auth/v1/signup with data
 * creates the profile in the sign-up's transaction; a PostgREST-style request
 * under a user's token changes only its own row; deleting the user deletes it.
 */
describe("Supabase's user-management quick start on restauth's PostgreSQL", () => {
  const app = usePostgrestApp({
    secret: SECRET,
    anonRole: 'anon',
    authenticatedRole: 'authenticated',
    // What a Supabase project grants on public tables by default (not part of the quick start).
    schema: `${QUICK_START}
GRANT SELECT, INSERT, UPDATE ON public.profiles TO anon, authenticated;`,
  });
  const { rest } = app;

  async function signUp(email: string, fullName: string): Promise<{ id: string; token: string }> {
    const res = await app.t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email, password: 'a long passphrase', data: { full_name: fullName } },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { access_token: string; user: { id: string } };
    return { id: body.user.id, token: body.access_token };
  }

  const profiles = () =>
    postgrestRequest<{ id: string; full_name: string; website: string | null }>(
      app.pool,
      rest,
      null,
      'SELECT id::text AS id, full_name, website FROM public.profiles ORDER BY full_name',
    );

  it('a sign-up with data creates the profile; each user changes only its own row', async () => {
    const ada = await signUp('ada@example.com', 'Ada Lovelace');
    const bob = await signUp('bob@example.com', 'Bob Babbage');
    assert.deepEqual(await profiles(), [
      { id: ada.id, full_name: 'Ada Lovelace', website: null },
      { id: bob.id, full_name: 'Bob Babbage', website: null },
    ]);

    // Under Ada's token: an update of every row changes hers only; a profile in Bob's name is refused.
    const updated = await postgrestRequest<{ id: string }>(
      app.pool,
      rest,
      ada.token,
      `UPDATE public.profiles SET website = 'https://ada.example' RETURNING id::text AS id`,
    );
    assert.deepEqual(updated, [{ id: ada.id }]);
    const own = await postgrestRequest<{ id: string }>(
      app.pool,
      rest,
      ada.token,
      'SELECT id::text AS id FROM public.profiles WHERE id = (SELECT auth.uid())',
    );
    assert.deepEqual(own, [{ id: ada.id }]);
    await assert.rejects(
      postgrestRequest(app.pool, rest, ada.token, 'INSERT INTO public.profiles (id) VALUES ($1)', [bob.id]),
      /row-level security/u,
    );
    assert.deepEqual(await profiles(), [
      { id: ada.id, full_name: 'Ada Lovelace', website: 'https://ada.example' },
      { id: bob.id, full_name: 'Bob Babbage', website: null },
    ]);

    // Deleting the user deletes its profile (on delete cascade).
    await app.t.services.admin.deleteUser(LOCAL_CALL, ada.id);
    assert.deepEqual(await profiles(), [{ id: bob.id, full_name: 'Bob Babbage', website: null }]);
  });
});
