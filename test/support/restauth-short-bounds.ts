import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OwnCluster } from './postgres-cluster.js';
import { spawnRestauth, type RestauthProcess } from './process.js';

/**
 * The real CLI on `cluster` (its own, which a test can pause with SIGSTOP), in a new folder named by
 * `prefix` (the caller removes it), with short bounds on PostgreSQL: 2 s to connect, 1 s a statement
 * (3 s for its answer: the client's grace, see pool.ts). A hang waits them out, each round of a test
 * (they were 5 s and 2 s: 9 s a round). Against a hanging server a busy machine only makes them fire
 * later; against a live one it can make them fire (a slow connect, a statement starved of CPU): the
 * tests repeat a live request answered 503 (served), and the start-up waits for the database (startupTimeout)
 * and migrates unbounded. The connect bound is the larger: a new backend is a fork and a handshake.
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
    RESTAUTH_DB_CONNECT_TIMEOUT: '2',
    RESTAUTH_DB_QUERY_TIMEOUT: '1',
    RESTAUTH_LOG_LEVEL: 'warn',
  });
  return { dir, instance };
}

/**
 * Repeats a request while it answers 503, a few times at most: right after an outage, or on a busy
 * machine where a live connection or statement took longer than the short bounds, one may meet them.
 */
export async function served<T extends { status: number }>(request: () => Promise<T>): Promise<T> {
  let answer = await request();
  for (let attempt = 0; answer.status === 503 && attempt < 10; attempt++) answer = await request();
  return answer;
}
