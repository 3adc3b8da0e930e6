import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { postgrestRequest, poolAs, runAsOwner, type PostgrestOptions } from '../support/postgrest.js';
import { realServerOnly, testRoles } from '../support/postgres.js';
import { signedInUser } from '../support/signed-in-user.js';
import { useTestDatabase } from '../support/test-database.js';

const SECRET = 'claims-helper-shadows-secret-0123456789';
/** Roles are cluster-wide: the attacker's has a name of its own. */
const ATTACKER = `claims_attacker_${randomBytes(3).toString('hex')}`;
/** auth.jwt()'s per-claim fallback builds its object from nine claims: eighteen arguments. */
const PAIRS = 9;
/** PGlite's clients share its one session: the attacker's role and functions would be everyone's. */
const ownSessions = realServerOnly()
  ? 'needs a session of its own for the attacker (its role): PGlite has one, shared'
  : false;

/**
 * A database made before PostgreSQL 15 lets every role CREATE in `public`, and PostgREST's requests
 * search `public` (db-extra-search-path). auth.jwt() is SECURITY INVOKER SQL, planned in each
 * caller's session: its per-claim fallback (PostgREST before 12) called jsonb_build_object by name,
 * and pg_catalog's takes VARIADIC "any", so an overload taking text, anywhere on the path, won. A
 * role with nothing but a login there made auth.uid() answer another user's id in every request,
 * and every policy written `(select auth.uid()) = owner` then served that user's rows.
 */
describe('auth.jwt() under an overload another role put in public', { skip: ownSessions }, () => {
  const db = useTestDatabase({
    max: 2,
    beforeDrop: () => runAsOwner(db.url, `DROP OWNED BY ${ATTACKER}; DROP ROLE ${ATTACKER};`),
  });
  const rest: PostgrestOptions = {
    secret: SECRET,
    anonRole: testRoles.anonymous,
    preRequest: 'auth.check_token_count',
    claimsStyle: 'legacy',
  };

  before(async () => {
    await runAsOwner(
      db.url,
      `CREATE ROLE ${ATTACKER} LOGIN; GRANT CREATE ON SCHEMA public TO PUBLIC;
       CREATE TABLE public.notes (owner uuid NOT NULL, body text NOT NULL);
       ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
       CREATE POLICY own_notes ON public.notes USING ((SELECT auth.uid()) = owner);
       GRANT SELECT ON public.notes TO ${testRoles.authenticated};`,
    );
  });

  it("a user's request under per-claim settings reads its own rows only", async () => {
    const mallory = await signedInUser(db.store, 'mallory');
    const victim = await signedInUser(db.store, 'victim');
    await db.pool.query('INSERT INTO public.notes VALUES ($1, $2)', [victim.user.id, "the victim's note"]);

    // The attacker's overload answers the victim's sub, whatever the claims.
    const parameters = Array.from({ length: PAIRS * 2 }, (_, i) => `a${i} text`).join(', ');
    const attacker = poolAs(db.url, ATTACKER, 1);
    try {
      await attacker.query(
        `CREATE FUNCTION public.jsonb_build_object(${parameters}) RETURNS jsonb LANGUAGE sql
         AS $f$ SELECT pg_catalog.jsonb_build_object('sub', '${victim.user.id}', 'role', a3) $f$`,
      );
    } finally {
      await attacker.end();
    }

    const iat = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({
      sub: mallory.user.id,
      role: testRoles.authenticated,
      session_id: mallory.session.id,
      token_version: mallory.user.tokenVersion,
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + 600)
      .sign(new TextEncoder().encode(SECRET));
    const rows = await postgrestRequest<{ body: string }>(
      db.pool,
      rest,
      token,
      'SELECT body FROM public.notes',
    );
    assert.deepEqual(rows, []);
  });
});
