import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import pg from 'pg';
import { registeredToken } from '../support/json-data-server.js';
import { postgrestRequest } from '../support/postgrest.js';
import { usePostgrestApp } from '../support/postgrest-app.js';
import { PRE_REQUEST_REFUSED } from '../support/pre-request-verdict.js';

const SECRET = 'postgrest-harness-secret-0123456789';

async function post(app: FastifyInstance, url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'POST', url, payload: body as object, headers });
  return { status: res.statusCode, json: () => res.json() as Record<string, string>, body: res.body };
}

/** A table with row-level security, as docs/postgrest.md sets one up beside the authenticator login role. */
const NOTES = `
  CREATE TABLE public.notes (id serial PRIMARY KEY, owner text NOT NULL DEFAULT auth.uid(), body text NOT NULL);
  ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_notes ON public.notes USING (owner = auth.uid()::text OR owner = current_user)
    WITH CHECK (owner = auth.uid()::text OR owner = current_user);
  GRANT SELECT, INSERT ON public.notes TO normal_user;
  GRANT USAGE ON SEQUENCE public.notes_id_seq TO normal_user;
`;

describe('PostgREST request cycle with restauth tokens (PostgreSQL store)', () => {
  const app = usePostgrestApp({
    secret: SECRET,
    anonRole: 'web_anon',
    authenticatedRole: 'normal_user',
    schema: NOTES,
  });
  const { rest } = app;

  const login = async (username: string, password = 'a passphrase') => {
    const res = await post(app.t.app, '/auth/login', { username, password });
    assert.equal(res.status, 200, res.body);
    return res.json();
  };

  it('a restauth token passes the pre-request and runs as the authenticated role; RLS sees auth.uid()', async () => {
    const token = await registeredToken(app.t, 'ada', 'a passphrase');
    const [who] = await postgrestRequest<{ role: string; uid: string }>(
      app.pool,
      rest,
      token,
      'SELECT current_user AS role, auth.uid() AS uid',
    );
    assert.equal(who!.role, 'normal_user');
    const ada = await app.t.services.store.findUserByUsername('ada');
    assert.equal(who!.uid, ada!.id);
    assert.match(who!.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a uuid string');
    await postgrestRequest(app.pool, rest, token, `INSERT INTO public.notes (body) VALUES ('ada''s note')`);
    await post(app.t.app, '/auth/register', { username: 'bea', password: 'a passphrase' });
    const bea = await login('bea');
    const seen = await postgrestRequest<{ body: string }>(
      app.pool,
      rest,
      bea.access_token!,
      'SELECT body FROM public.notes',
    );
    assert.deepEqual(seen, [], 'row-level security hides ada’s note from bea');
    const mine = await postgrestRequest<{ body: string }>(
      app.pool,
      rest,
      token,
      'SELECT body FROM public.notes',
    );
    assert.deepEqual(mine, [{ body: "ada's note" }]);
  });

  it('no token runs as the anonymous role, which may not read the table', async () => {
    const [who] = await postgrestRequest<{ role: string }>(
      app.pool,
      rest,
      null,
      'SELECT current_user AS role',
    );
    assert.equal(who!.role, 'web_anon');
    await assert.rejects(postgrestRequest(app.pool, rest, null, 'SELECT * FROM public.notes'), {
      status: 403,
      sqlstate: '42501',
    });
  });

  for (const style of ['json', 'legacy'] as const) {
    describe(`claims published as ${style === 'json' ? 'request.jwt.claims (PostgREST >= 9)' : 'request.jwt.claim.* (older PostgREST)'}`, () => {
      const options = { ...rest, claimsStyle: style };

      it('after a password change, older tokens are refused', async () => {
        const name = `cpw${style}`;
        await post(app.t.app, '/auth/register', { username: name, password: 'a passphrase' });
        const old = await login(name);
        await postgrestRequest(app.pool, options, old.access_token!, 'SELECT 1');
        const changed = await post(app.t.app, '/auth/password', {
          username: name,
          password: 'a passphrase',
          newpassword: 'another one',
        });
        assert.equal(changed.status, 200);
        await assert.rejects(postgrestRequest(app.pool, options, old.access_token!, 'SELECT 1'), {
          status: 403,
          message: PRE_REQUEST_REFUSED,
        });
        await postgrestRequest(app.pool, options, changed.json().access_token!, 'SELECT 1');
      });

      it('after logout, the token is refused at once', async () => {
        const name = `out${style}`;
        await post(app.t.app, '/auth/register', { username: name, password: 'a passphrase' });
        const session = await login(name);
        await postgrestRequest(app.pool, options, session.access_token!, 'SELECT 1');
        const out = await post(
          app.t.app,
          '/auth/logout',
          {},
          { authorization: `Bearer ${session.access_token}` },
        );
        assert.equal(out.status, 204);
        await assert.rejects(postgrestRequest(app.pool, options, session.access_token!, 'SELECT 1'), {
          status: 403,
          message: PRE_REQUEST_REFUSED,
        });
      });
    });
  }

  it('after refresh-token reuse revokes the session, its access tokens are refused', async () => {
    await post(app.t.app, '/auth/register', { username: 'reuse', password: 'a passphrase' });
    const first = await login('reuse');
    const refreshed = await post(app.t.app, '/auth/refresh', { refresh_token: first.refresh_token });
    assert.equal(refreshed.status, 200);
    await postgrestRequest(app.pool, rest, refreshed.json().access_token!, 'SELECT 1');
    app.t.advance(11_000);
    const replay = await post(app.t.app, '/auth/refresh', { refresh_token: first.refresh_token });
    assert.equal(replay.status, 400);
    await assert.rejects(postgrestRequest(app.pool, rest, refreshed.json().access_token!, 'SELECT 1'), {
      status: 403,
    });
  });

  it('a token issued before the uuid ids (its sub the serial id) still passes, until a password change', async () => {
    await post(app.t.app, '/auth/register', { username: 'legacy', password: 'a passphrase' });
    const session = await login('legacy');
    const user = await app.t.services.store.findUserByUsername('legacy');
    const admin = new pg.Client({ connectionString: app.url });
    await admin.connect();
    let serial: number;
    try {
      const { rows } = await admin.query<{ id: number }>('SELECT id FROM restauth.accounts WHERE uid = $1', [
        user!.id,
      ]);
      serial = rows[0]!.id;
    } finally {
      await admin.end();
    }
    // The same token as restauth issued it before migration 6: every claim kept, sub the serial id.
    const legacy = await new SignJWT({ ...decodeJwt(session.access_token!), sub: String(serial) })
      .setProtectedHeader(decodeProtectedHeader(session.access_token!) as { alg: string })
      .sign(new TextEncoder().encode(SECRET));
    // auth.uid() is a uuid (migration 13): a sub that is none names no row; the text one kept shows it.
    const [who] = await postgrestRequest<{ uid: string | null; text: string }>(
      app.pool,
      rest,
      legacy,
      'SELECT auth.uid() AS uid, auth.uid_text() AS text',
    );
    assert.equal(who!.uid, null);
    assert.equal(who!.text, String(serial));
    const checked = await app.t.services.auth.check(legacy);
    assert.equal(
      checked.user.id,
      user!.id,
      'restauth finds the user by the serial id, and names it by its uuid',
    );
    const changed = await post(app.t.app, '/auth/password', {
      username: 'legacy',
      password: 'a passphrase',
      newpassword: 'another one',
    });
    assert.equal(changed.status, 200, changed.body);
    await assert.rejects(postgrestRequest(app.pool, rest, legacy, 'SELECT 1'), {
      status: 403,
      message: PRE_REQUEST_REFUSED,
    });
  });

  it('a token of a deleted user is refused', async () => {
    await post(app.t.app, '/auth/register', { username: 'gone', password: 'a passphrase' });
    const session = await login('gone');
    const user = await app.t.services.store.findUserByUsername('gone');
    await app.t.services.store.deleteUser(user!.id);
    await assert.rejects(postgrestRequest(app.pool, rest, session.access_token!, 'SELECT 1'), {
      status: 403,
      message: PRE_REQUEST_REFUSED,
    });
  });

  it('PostgREST itself refuses a token signed with another secret, or expired beyond its clock skew', async () => {
    const forged = await new SignJWT({ role: 'normal_user', sub: '1', token_version: 0 })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-not-the-secret'));
    await assert.rejects(postgrestRequest(app.pool, rest, forged, 'SELECT 1'), { status: 401 });
    const expired = await new SignJWT({ role: 'normal_user' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(SECRET));
    await assert.rejects(postgrestRequest(app.pool, rest, expired, 'SELECT 1'), { status: 401 });
  });
});
