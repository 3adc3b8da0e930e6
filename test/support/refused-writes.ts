import pg from 'pg';

/** A connection to the database at `url`, as its owner, for the time of `use`. */
export async function withDba<T>(url: string, use: (dba: pg.Client) => Promise<T>): Promise<T> {
  const dba = new pg.Client({ connectionString: url });
  await dba.connect();
  try {
    return await use(dba);
  } finally {
    await dba.end();
  }
}

/**
 * Runs `during` while every `write` (INSERT, UPDATE) of `table` in the database at `url` fails with
 * disk_full (53100): a trigger the test adds on the table, as a full disk would refuse that write alone.
 */
export function whileRefused<T>(
  url: string,
  write: 'INSERT' | 'UPDATE',
  table: string,
  during: () => Promise<T>,
): Promise<T> {
  return withDba(url, async (dba) => {
    await dba.query(`
      CREATE FUNCTION public.refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$;
      CREATE TRIGGER refuse_write BEFORE ${write} ON ${table} FOR EACH ROW EXECUTE FUNCTION public.refuse_write();`);
    try {
      return await during();
    } finally {
      await dba.query(`DROP TRIGGER refuse_write ON ${table}; DROP FUNCTION public.refuse_write()`);
    }
  });
}

/** How many rows of auth.users `where` selects (its $1 is `value`). */
export function usersWhere(url: string, where: string, value?: string): Promise<number> {
  return withDba(url, async (dba) => {
    const { rows } = await dba.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM auth.users WHERE ${where}`,
      value === undefined ? [] : [value],
    );
    return rows[0]!.n;
  });
}
