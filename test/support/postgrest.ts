import { jwtVerify } from 'jose';
import pg from 'pg';

/**
 * What PostgREST does for each request, reproduced (PostgREST itself cannot
 * run here): verify the JWT (HS256 secret, exp/nbf/iat with its 30 s clock
 * skew, audience, the `role` claim), then in one transaction switch to the
 * role, publish the claims — as PostgREST >= 9 does (request.jwt.claims) or as
 * older versions did (one request.jwt.claim.* setting per claim) — call the
 * pre-request function, and run the query.
 */
export interface PostgrestOptions {
  secret: string;
  anonRole: string;
  preRequest: string;
  audience?: string;
  /** 'json': PostgREST >= 9; 'legacy': request.jwt.claim.* settings. */
  claimsStyle?: 'json' | 'legacy';
}

export class PostgrestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly sqlstate?: string,
  ) {
    super(message);
  }
}

const CLOCK_SKEW_SECONDS = 30;

/** PostgREST's mapping of the SQLSTATEs restauth raises. */
function statusOf(sqlstate: string | undefined): number {
  if (sqlstate === '28P01') return 403; // invalid_password
  if (sqlstate === '42501') return 403; // insufficient_privilege (401 when anonymous)
  if (sqlstate?.startsWith('PT')) return Number(sqlstate.slice(2));
  return 400;
}

export async function postgrestRequest<T extends pg.QueryResultRow>(
  pool: pg.Pool,
  options: PostgrestOptions,
  token: string | null,
  sql: string,
  values: unknown[] = [],
): Promise<T[]> {
  let claims: Record<string, unknown> = { role: options.anonRole };
  if (token !== null) {
    try {
      const verified = await jwtVerify(token, new TextEncoder().encode(options.secret), {
        algorithms: ['HS256'],
        clockTolerance: CLOCK_SKEW_SECONDS,
        ...(options.audience ? { audience: options.audience } : {}),
      });
      claims = verified.payload as Record<string, unknown>;
    } catch (error) {
      throw new PostgrestError(401, `JWT invalid: ${(error as Error).message}`);
    }
  }
  const role = typeof claims.role === 'string' ? claims.role : options.anonRole;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('role', $1, true)`, [role]);
    if ((options.claimsStyle ?? 'json') === 'json') {
      await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    } else {
      for (const [key, value] of Object.entries(claims)) {
        await client.query(`SELECT set_config($1, $2, true)`, [`request.jwt.claim.${key}`, String(value)]);
      }
    }
    await client.query(`SELECT ${options.preRequest}()`);
    const result = await client.query<T>(sql, values);
    await client.query('COMMIT');
    return result.rows;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    if (error instanceof PostgrestError) throw error;
    const sqlstate = (error as { code?: string }).code;
    throw new PostgrestError(statusOf(sqlstate), (error as Error).message, sqlstate);
  } finally {
    client.release();
  }
}

/**
 * SQL creating PostgREST's login role (LOGIN NOINHERIT, as its docs set it up) unless the cluster has
 * it, and granting it the roles it may switch to. Roles are cluster-wide: tests sharing a server give
 * theirs a random name.
 */
export function authenticatorRoleSql(authenticator: string, roles: readonly string[]): string {
  return `
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${authenticator}') THEN
        CREATE ROLE ${authenticator} LOGIN NOINHERIT;
      END IF;
    END $$;
    GRANT ${roles.join(', ')} TO ${authenticator};
  `;
}

/** Runs `sql` on the database at `url` as its owner (tables, policies, roles), on a connection of its own. */
export async function runAsOwner(url: string, sql: string): Promise<void> {
  const owner = new pg.Client({ connectionString: url });
  await owner.connect();
  try {
    await owner.query(sql);
  } finally {
    await owner.end();
  }
}

/** A pool logged in to the database at `url` as `role`: PostgREST's authenticator, as PostgREST connects. */
export function poolAs(url: string, role: string, max = 4): pg.Pool {
  const target = new URL(url);
  target.username = role;
  return new pg.Pool({ connectionString: target.toString(), max });
}
