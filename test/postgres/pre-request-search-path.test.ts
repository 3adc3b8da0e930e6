import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { realServerOnly, testRoles } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';
import { PRE_REQUEST_REFUSED } from '../support/pre-request-verdict.js';

const DAY = 86_400_000;
/** The attacker: a role PostgREST's users have (it may call the pre-request), with a schema of its own. */
const ATTACKER = `search_path_attacker_${process.pid}`;
/** PGlite's clients share its one session: the attacker's role and temporary schema would be everyone's. */
const ownSession = realServerOnly()
  ? 'needs a session of its own for the attacker (its role, its temporary schema): PGlite has one, shared'
  : false;

/**
 * The operators and types the pre-request's functions use, shadowed in the attacker's schema (and
 * the types in its session's temporary schema, searched first for types): each shadow says so in a
 * NOTICE, which reaches the client even when the statement then fails and rolls back.
 */
const SHADOWS = `
  CREATE FUNCTION ${ATTACKER}.spied(what text) RETURNS boolean LANGUAGE plpgsql AS $f$
  BEGIN
    RAISE NOTICE 'hijacked: % ran as %', what, current_user;
    RETURN true;
  END $f$;
  DO $$
  DECLARE
    o record;
    n int := 0;
  BEGIN
    FOR o IN
      SELECT oprname, oprleft::regtype AS l, oprright::regtype AS r, oprresult::regtype AS res
      FROM pg_catalog.pg_operator
      WHERE oprnamespace = 'pg_catalog'::regnamespace AND oprleft <> 0 AND oprright <> 0
        AND oprname IN ('=', '<>', '->>', '->', '@>', '~', '!~', '<', '>', '<=', '>=', '||')
        AND (SELECT typtype FROM pg_catalog.pg_type WHERE oid = oprleft) <> 'p'
        AND (SELECT typtype FROM pg_catalog.pg_type WHERE oid = oprright) <> 'p'
      UNION ALL SELECT '@>', 'tstzrange', 'timestamptz', 'boolean'
    LOOP
      n := n + 1;
      EXECUTE format(
        'CREATE FUNCTION ${ATTACKER}.op_%s(a %s, b %s) RETURNS %s LANGUAGE plpgsql AS $f$ '
        'BEGIN PERFORM ${ATTACKER}.spied(%L); RETURN a OPERATOR(pg_catalog.%s) b; END $f$',
        n, o.l, o.r, o.res, o.oprname, o.oprname);
      EXECUTE format('CREATE OPERATOR ${ATTACKER}.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = ${ATTACKER}.op_%s)',
        o.oprname, o.l, o.r, n);
    END LOOP;
  END $$;
  CREATE FUNCTION ${ATTACKER}.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
  BEGIN PERFORM ${ATTACKER}.spied('now()'); RETURN pg_catalog.now(); END $f$;
  CREATE FUNCTION ${ATTACKER}.current_setting(name text, missing_ok boolean) RETURNS text LANGUAGE plpgsql AS $f$
  BEGIN PERFORM ${ATTACKER}.spied('current_setting'); RETURN pg_catalog.current_setting(name, missing_ok); END $f$;
  CREATE DOMAIN ${ATTACKER}.jsonb AS pg_catalog.jsonb CHECK (${ATTACKER}.spied('jsonb'));
  CREATE DOMAIN ${ATTACKER}.text AS pg_catalog.text CHECK (${ATTACKER}.spied('text'));
  CREATE DOMAIN ${ATTACKER}.uuid AS pg_catalog.uuid CHECK (${ATTACKER}.spied('uuid'));
  CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (${ATTACKER}.spied('pg_temp.jsonb'));
  CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (${ATTACKER}.spied('pg_temp.text'));
  CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (${ATTACKER}.spied('pg_temp.uuid'));
`;

/**
 * The pre-request runs as its owner (SECURITY DEFINER): a caller who may call it and create objects
 * somewhere puts its own operators, functions and types first in its search path. None of them may
 * run inside the check (they would run as the owner, often a superuser), on any path the check
 * takes: a live session (the fast path), a refusal (the tables), anonymous and other token shapes
 * (the general check); and each verdict is the one a plain caller gets.
 */
describe("the pre-request under its caller's search path", () => {
  let pool: pg.Pool;
  let store: PostgresStore;
  let attacker: pg.Client | undefined;
  const notices: string[] = [];
  const role = testRoles.authenticated;
  const db = useTestDatabase({
    max: 4,
    // Roles are cluster-wide: the attacker's goes, with its schema, while the pool can still drop them.
    beforeDrop: async () => {
      if (!attacker) return;
      await attacker.end();
      await pool.query(`DROP SCHEMA IF EXISTS ${ATTACKER} CASCADE`);
      await pool.query(`DROP ROLE IF EXISTS ${ATTACKER}`);
    },
  });

  before(async () => {
    ({ pool, store } = db);
    if (ownSession) return;
    await pool.query(`DROP ROLE IF EXISTS ${ATTACKER}`);
    await pool.query(`CREATE ROLE ${ATTACKER} NOLOGIN IN ROLE ${pg.escapeIdentifier(role)}`);
    await pool.query(`CREATE SCHEMA ${ATTACKER} AUTHORIZATION ${ATTACKER}`);
    attacker = new pg.Client({ connectionString: db.url });
    await attacker.connect();
    attacker.on('notice', (notice) => notices.push(notice.message ?? ''));
    await attacker.query(`SET ROLE ${ATTACKER}`);
    await attacker.query(SHADOWS);
  });
  /** The check's verdict on `claims` (null: through), called by `client` with `searchPath` (null: its default). */
  async function verdict(client: pg.Client | pg.PoolClient, claims: string, searchPath: string | null) {
    await client.query('BEGIN');
    try {
      await client.query(`SELECT pg_catalog.set_config('request.jwt.claims', $1, true)`, [claims]);
      if (searchPath) await client.query(`SET LOCAL search_path = ${searchPath}`);
      return await client
        .query('SELECT auth.check_token_count()')
        .then(() => null)
        .catch((error: { code?: string; message: string }) => `${error.code}: ${error.message}`);
    } finally {
      await client.query('ROLLBACK');
    }
  }

  /** The verdict a plain caller (the authenticated role, default search path) gets. */
  async function plainVerdict(claims: string) {
    const client = await pool.connect();
    try {
      await client.query(`SET ROLE ${pg.escapeIdentifier(role)}`);
      return await verdict(client, claims, null);
    } finally {
      await client.query('RESET ROLE');
      client.release();
    }
  }

  it(
    'runs none of the caller’s objects on any path, and answers as to a plain caller',
    { skip: ownSession },
    async () => {
      const hostile = attacker!;
      const user = await store.createUser(
        { username: 'victim', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
        null,
      );
      const openSession = async () =>
        (
          await store.createSession({
            id: randomUUID(),
            userId: user.id,
            createdAt: new Date(),
            notAfter: new Date(Date.now() + DAY),
            refreshSecret: 'secret',
            firstRefreshTokenHash: randomUUID(),
            maxPerUser: 0,
          })
        ).id;
      const live = await openSession();
      const ended = await openSession();
      await store.revokeSession(ended, 'logout', new Date());
      const claims = (session: string, more: Record<string, unknown> = {}) =>
        JSON.stringify({ sub: user.id, role, session_id: session, token_version: 0, ...more });
      const cases: [string, string, RegExp | null][] = [
        ['a live session (the fast path)', claims(live), null],
        ['an old token version', claims(live, { token_version: 1 }), PRE_REQUEST_REFUSED],
        ['a signed-out session', claims(ended), PRE_REQUEST_REFUSED],
        ['anonymous', JSON.stringify({ role: testRoles.anonymous }), null],
        ['no claims', '', null],
        ['a sub that is no uuid', claims(live, { sub: 'x' }), PRE_REQUEST_REFUSED],
        ["postgrest-auth's shape", JSON.stringify({ role, count: 0 }), PRE_REQUEST_REFUSED],
      ];
      for (const [name, text, refusal] of cases) {
        notices.length = 0;
        const hostileVerdict = await verdict(hostile, text, `${ATTACKER}, pg_catalog`);
        assert.deepEqual(notices, [], `${name}: the caller's objects ran inside the check`);
        assert.equal(hostileVerdict, await plainVerdict(text), name);
        if (refusal) assert.match(hostileVerdict ?? '', refusal, name);
        else assert.equal(hostileVerdict, null, name);
      }
      // The shadows are live: the attacker's own statements under that path reach them.
      notices.length = 0;
      await hostile.query('BEGIN');
      await hostile.query(`SET LOCAL search_path = ${ATTACKER}, pg_catalog`);
      await hostile.query(`SELECT '{"a": "b"}'::jsonb ->> 'a', now()`);
      await hostile.query('ROLLBACK');
      assert.ok(
        notices.some((notice) => notice.startsWith('hijacked: ->>')),
        notices.join('\n'),
      );
      assert.ok(notices.includes(`hijacked: now() ran as ${ATTACKER}`), notices.join('\n'));
    },
  );

  it('leaves no function running as its owner with the search path of its caller', async () => {
    const { rows } = await pool.query<{ fn: string; config: string[] | null }>(
      `SELECT p.oid::regprocedure::text AS fn, p.proconfig AS config FROM pg_proc p
       WHERE p.prosecdef AND p.pronamespace IN ('auth'::regnamespace, 'restauth'::regnamespace)
       ORDER BY 1`,
    );
    assert.ok(rows.length >= 7, JSON.stringify(rows));
    for (const { fn, config } of rows) {
      // check_token_count names everything in pg_catalog instead (the test above).
      if (fn === 'auth.check_token_count()') assert.equal(config, null, fn);
      // Other settings may join it (the general check's plan settings, migration 62).
      else
        assert.deepEqual(
          config?.filter((setting) => setting.startsWith('search_path=')),
          ['search_path=pg_catalog, pg_temp'],
          fn,
        );
    }
  });
});
