/**
 * The search path of restauth's own sessions: pg_catalog, then the session's temporary schema
 * (which only the session itself can create objects in).
 *
 * PostgreSQL prefers a function or operator taking its arguments' exact types in any schema on the
 * search path to pg_catalog's polymorphic one (to_jsonb(anyelement), jsonb_build_object(VARIADIC
 * "any"), ...). With `public` on the path, a role that may CREATE there, as every role may in a
 * database made before PostgreSQL 15 (pg_upgrade keeps that grant), had its own to_jsonb(record)
 * run by restauth's sign-in as restauth's role (a superuser, or the owner of auth.* with
 * CREATEROLE), handed each user's row with its password hash. restauth names every table it uses by
 * its schema, so it needs nothing else on the path; triggers users put on auth.users run with it
 * too, so they name their tables by schema (Supabase's guides pin theirs to '' for the same reason).
 */
const PINNED = '-c search_path=pg_catalog,pg_temp';

/**
 * The connection's `url` without the `options` parameter, and the start-up options restauth's sessions
 * get: the pinned search path, then the URL's own options (or PGOPTIONS'), so an operator who sets a
 * search path there keeps it. node-postgres lets a URL's `options` replace the pool's, which would
 * drop the pin; a URL it cannot read as one is left as it is.
 */
export function pinnedSearchPath(url: string): { url: string; options: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, options: withGiven(process.env.PGOPTIONS) };
  }
  const given = parsed.searchParams.get('options') ?? process.env.PGOPTIONS;
  if (!parsed.searchParams.has('options')) return { url, options: withGiven(given) };
  parsed.searchParams.delete('options');
  return { url: parsed.toString(), options: withGiven(given) };
}

function withGiven(given: string | undefined): string {
  return given ? `${PINNED} ${given}` : PINNED;
}
