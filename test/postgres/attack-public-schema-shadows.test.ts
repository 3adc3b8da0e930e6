import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createPool } from '../../src/stores/postgres/pool.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { poolAs, runAsOwner } from '../support/postgrest.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

const PREFIX = '/auth/v1';
const PASSWORD = 'a long passphrase';
/** Roles are cluster-wide: the attacker's has a name of its own. */
const ATTACKER = `shadow_attacker_${randomBytes(3).toString('hex')}`;
/** PGlite serves every connection from one session and ignores start-up options: no pin, no attacker of its own. */
const ownSessions = realServerOnly()
  ? "needs sessions of their own, started with the pool's options: PGlite has one, shared, and ignores them"
  : false;

/**
 * Functions of pg_catalog that restauth's SQL calls with a row or a value of a type they accept only
 * through a polymorphic or "any" parameter, shadowed in `public` by overloads taking the exact type:
 * PostgreSQL prefers an exact match in any schema on the search path to pg_catalog's polymorphic one
 * (CVE-2018-1058's pattern). Each shadow writes who ran it and what it was handed to the attacker's
 * table, then answers as pg_catalog's would, so restauth goes on as if nothing happened.
 */
const SHADOWS = `
  CREATE TABLE public.loot (who text, fn text, what text);
  GRANT INSERT ON public.loot TO PUBLIC;
  CREATE FUNCTION public.to_jsonb(r record) RETURNS jsonb LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO public.loot VALUES (current_user, 'to_jsonb', pg_catalog.to_jsonb(r)::text);
    RETURN pg_catalog.to_jsonb(r);
  END $f$;
  CREATE FUNCTION public.jsonb_agg(r record) RETURNS jsonb LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO public.loot VALUES (current_user, 'jsonb_agg', r::text);
    RETURN pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(r));
  END $f$;
  CREATE FUNCTION public.jsonb_build_object(a text, b text) RETURNS jsonb LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO public.loot VALUES (current_user, 'jsonb_build_object', a || '=' || b);
    RETURN pg_catalog.jsonb_build_object(a, b);
  END $f$;
  CREATE FUNCTION public.jsonb_build_object(a text, b uuid) RETURNS jsonb LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO public.loot VALUES (current_user, 'jsonb_build_object', a || '=' || b);
    RETURN pg_catalog.jsonb_build_object(a, b);
  END $f$;
`;

/**
 * A database made before PostgreSQL 15 lets every role CREATE in `public` (and pg_upgrade keeps
 * that grant), and restauth's connections search `public`. A role with nothing but a login there
 * (an application's, a reporting user's, PostgREST's authenticator) may put functions in `public`
 * that restauth's own statements then call, as restauth's role: a superuser or at least the owner
 * of auth.*, with CREATEROLE. restauth's sessions search pg_catalog only, so its statements resolve
 * to no object another role made, whatever `public` holds.
 */
describe('restauth under functions another role put in public', { skip: ownSessions }, () => {
  let serverUrl: string;
  let url: string;
  let t: TestApp;
  let attacker: pg.Pool;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    // PostgreSQL 14's default, kept by pg_upgrade: every role may create objects in public.
    await runAsOwner(url, `CREATE ROLE ${ATTACKER} LOGIN; GRANT CREATE ON SCHEMA public TO PUBLIC;`);
    attacker = poolAs(url, ATTACKER, 1);
    t = await createTestApp({ format: 'restauth', config: { store: testStoreConfig(url) } });
    await attacker.query(SHADOWS);
  });
  after(async () => {
    await attacker?.end();
    await t?.close();
    if (url) {
      await runAsOwner(url, `DROP OWNED BY ${ATTACKER}; DROP ROLE ${ATTACKER};`);
      await dropDatabase(serverUrl, url);
    }
  });

  async function call(method: 'POST', path: string, token: string | null, payload: object) {
    return t.app.inject({
      method,
      url: `${PREFIX}${path}`,
      payload,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
  }

  it('a sign-up, a password sign-in, a refresh and a sign-out run none of them', async () => {
    const email = 'ada@example.com';
    const signUp = await call('POST', '/signup', null, { email, password: PASSWORD });
    assert.equal(signUp.statusCode, 200, signUp.body);
    const signIn = await call('POST', '/token?grant_type=password', null, { email, password: PASSWORD });
    assert.equal(signIn.statusCode, 200, signIn.body);
    const { access_token: token, refresh_token: refreshToken } = signIn.json() as {
      access_token: string;
      refresh_token: string;
    };
    const refresh = await call('POST', '/token?grant_type=refresh_token', null, {
      refresh_token: refreshToken,
    });
    assert.equal(refresh.statusCode, 200, refresh.body);
    const logout = await call('POST', '/logout', token, {});
    assert.equal(logout.statusCode, 204, logout.body);

    // Each row: who ran a shadow, which one, and whether it was handed a password hash (before the
    // fix: restauth's role, to_jsonb, with the user's row from the password sign-in).
    const { rows } = await attacker.query<{ who: string; fn: string; hash: boolean }>(
      `SELECT who, fn, what LIKE '%"encrypted_password": "$%' AS hash FROM public.loot`,
    );
    assert.deepEqual(rows, []);
  });
});

/**
 * node-postgres lets a URL's `options` replace the pool's: a DATABASE_URL carrying start-up options of
 * its own (a lock_timeout, an application name) must keep them and still get the pinned search path.
 */
describe(
  "restauth's sessions keep the pinned search path beside a URL's own options",
  { skip: ownSessions },
  () => {
    const db = useTestDatabase({ migrateThrough: 0 });

    it("SHOW search_path is pg_catalog,pg_temp, and the URL's lock_timeout holds", async () => {
      const url = new URL(db.url);
      url.searchParams.set('options', '-c lock_timeout=4321');
      const pool = createPool({ ...db.config, url: url.toString() }, { info() {}, warn() {} });
      try {
        const { rows } = await pool.query<{ search_path: string; lock_timeout: string }>(
          "SELECT current_setting('search_path') AS search_path, current_setting('lock_timeout') AS lock_timeout",
        );
        assert.deepEqual(rows, [{ search_path: 'pg_catalog,pg_temp', lock_timeout: '4321ms' }]);
      } finally {
        await pool.end();
      }
    });
  },
);
