import pg from 'pg';

/** What `work` sent to one database: the statements' names (or texts' openings), one round trip each. */
export interface RoundTrips<T> {
  answer: T;
  count: number;
  statements: string[];
}

/**
 * The statements `work` sends to the database `url` names, one round trip each: node-postgres sends
 * a statement and waits for its answer before the next (BEGIN and COMMIT are one each). Counted at
 * every pg.Client of the process, so a pool's checked-out client and pool.query are both seen, and
 * only for the database the URL names (a test's own clients on another database are not counted).
 * Nothing else may send to that database meanwhile: what it sends is counted too.
 */
export async function countRoundTrips<T>(url: string, work: () => Promise<T>): Promise<RoundTrips<T>> {
  const database = decodeURIComponent(new URL(url).pathname.slice(1));
  const statements: string[] = [];
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    if (this.database === database) {
      const [first] = args as [string | { text?: string; name?: string }];
      const text = typeof first === 'string' ? first : (first.name ?? first.text ?? '');
      statements.push(text.slice(0, 40));
    }
    return (query as (...args: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    const answer = await work();
    return { answer, count: statements.length, statements };
  } finally {
    pg.Client.prototype.query = query;
  }
}
