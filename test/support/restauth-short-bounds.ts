import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OwnCluster } from './postgres-cluster.js';
import { spawnRestauth, type RestauthProcess } from './process.js';

/**
 * The real CLI on `cluster` (its own, which a test can pause with SIGSTOP), in a new folder named by
 * `prefix` (the caller removes it), with short bounds on PostgreSQL: 5 s to connect, 2 s a statement.
 * Short enough for a test of a hanging server, long enough for a live one on a busy machine.
 */
export async function restauthWithShortBounds(
  cluster: OwnCluster,
  prefix: string,
): Promise<{ dir: string; instance: RestauthProcess }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await writeFile(
    join(dir, 'restauth.json'),
    JSON.stringify({ passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } }),
  );
  const instance = await spawnRestauth(dir, [], {
    DATABASE_URL: cluster.url,
    RESTAUTH_JWT_SECRET: 'fault-suite-secret-0123456789abcdef',
    RESTAUTH_DB_CONNECT_TIMEOUT: '5',
    RESTAUTH_DB_QUERY_TIMEOUT: '2',
    RESTAUTH_LOG_LEVEL: 'warn',
  });
  return { dir, instance };
}
