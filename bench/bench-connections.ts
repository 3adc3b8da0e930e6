import pg from 'pg';

/**
 * The bench's own connections to a phase's database (an observer, the floor's pool), kept apart
 * from the store's pool, which has listeners of its own (src/stores/postgres/pool.ts).
 *
 * Each has an 'error' listener for its whole life: a phase that fails leaves them open, and the
 * drop of its database (FORCE, when a backend stays) terminates their backends. Without a listener
 * that termination ("terminating connection due to administrator command") was an uncaught 'error'
 * event that ended the run, and the phase's own error, the one worth reading, was never printed.
 * endAll ends them before the drop, whether the phase failed or not.
 */
export class BenchConnections {
  private readonly open: Array<pg.Client | pg.Pool> = [];

  client(connectionString: string): pg.Client {
    return this.keep(new pg.Client({ connectionString }));
  }

  pool(config: pg.PoolConfig): pg.Pool {
    return this.keep(new pg.Pool(config));
  }

  /** Ends every connection opened here; a connection already broken is no news after the phase. */
  async endAll(): Promise<void> {
    const ending = this.open.splice(0);
    await Promise.all(ending.map((connection) => connection.end().catch(() => undefined)));
  }

  private keep<T extends pg.Client | pg.Pool>(connection: T): T {
    // One listener for both kinds: pg's typings give Client and Pool overloads that do not unite.
    (connection as pg.Client).on('error', (error: Error) => {
      console.error(`bench: a connection of the bench's own failed (${error.message}); it is dropped`);
    });
    this.open.push(connection);
    return connection;
  }
}
