import { parse } from 'pg-connection-string';
import { isLocalHost } from './local-host.js';
import type { Config } from './schema.js';
import { withSources, type SetupProblem } from './setup-policy.js';
import type { ValueSources } from './sources.js';

/**
 * The PostgreSQL connection's weak points, warned of at the start (not refused: a database on a
 * private network, a compose file's `db`, is how postgrest-auth's and GoTrue's deployments commonly
 * run, and their config files must start unchanged). `processEnv` is the process's own environment,
 * which node-postgres reads.
 */
export function databaseWarnings(
  config: Config,
  sources: ValueSources | undefined,
  processEnv: NodeJS.ProcessEnv,
): SetupProblem[] {
  if (config.store.type !== 'postgres') return [];
  const problems = databaseProblems(config.store.url, processEnv).map((problem) => ({
    key: 'store.url',
    problem,
  }));
  return withSources(problems, sources);
}

/**
 * The weak points of the PostgreSQL connection `url` names, read as node-postgres acts on it: its
 * URL parser (pg-connection-string) first, then the PGHOST and PGSSLMODE of the process's environment
 * for what the URL leaves out, then pg's defaults (localhost, no TLS). Every token's session, password
 * hash, refresh token digest and mailed code goes over that connection: to a host elsewhere it must be
 * encrypted and its server's certificate checked, or anyone on the way reads them, or poses as the
 * database. A Unix socket or a loopback host never leaves the machine.
 *
 * Returns each problem's text (the key is the caller's), or none.
 */
export function databaseProblems(url: string, env: NodeJS.ProcessEnv): string[] {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(url);
  } catch {
    // pg refuses the same URL at the first connect, with its own reason.
    return [];
  }
  const host = parsed.host || env['PGHOST'] || 'localhost';
  if (host.startsWith('/') || isLocalHost(host)) return [];
  const ssl = parsed.ssl === undefined ? sslFromEnvironment(env['PGSSLMODE']) : parsed.ssl;
  const through = parsed.ssl === undefined && env['PGSSLMODE'] !== undefined ? ' (PGSSLMODE)' : '';
  if (!ssl || ssl === 'false' || ssl === '0') {
    return [
      `names the database server ${host}, reached without TLS${through}: sessions, password hashes and mailed codes could be read on the way. ` +
        'Add ?sslmode=verify-full (with sslrootcert=<file> for a private CA)',
    ];
  }
  if (
    ssl === 'no-verify' ||
    (typeof ssl === 'object' && 'rejectUnauthorized' in ssl && !ssl.rejectUnauthorized)
  ) {
    return [
      `names the database server ${host} without checking its certificate${through} (sslmode=no-verify, or libpq's require under uselibpqcompat): anyone on the way can pose as it. ` +
        'Use ?sslmode=verify-full (with sslrootcert=<file> for a private CA)',
    ];
  }
  return [];
}

/** pg's reading of PGSSLMODE (connection-parameters.js): what a URL without sslmode gets. */
function sslFromEnvironment(mode: string | undefined): boolean | { rejectUnauthorized: false } {
  switch (mode) {
    case 'prefer':
    case 'require':
    case 'verify-ca':
    case 'verify-full':
      return true;
    case 'no-verify':
      return { rejectUnauthorized: false };
    default:
      return false;
  }
}
