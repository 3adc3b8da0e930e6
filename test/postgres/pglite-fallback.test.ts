import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { parse, serialize } from 'pg-protocol';
import type { BackendMessage, DataRowMessage } from 'pg-protocol/dist/messages.js';
import { pgliteQueuedMessages } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * The test server keeps concurrent connections' extended-protocol batches apart. On a real server
 * that is PostgreSQL's job; on the PGlite fallback (one backend session behind every connection) it is
 * test/support/pglite-queue.ts's, without which another connection's Parse could replace a
 * connection's unnamed statement between its Parse and its Bind.
 */
describe('the test PostgreSQL server', () => {
  const db = useTestDatabase({ max: 4, migrateThrough: 0 });
  let url: string;
  let pool: pg.Pool;

  before(() => {
    ({ url, pool } = db);
  });

  /** A connection speaking the protocol message by message, so a test chooses where a batch pauses. */
  async function rawConnection(): Promise<{ socket: Socket; next(name: string): Promise<BackendMessage> }> {
    const target = new URL(url);
    const socket = connect(Number(target.port), target.hostname);
    const inbox: BackendMessage[] = [];
    let wake: (() => void) | null = null;
    void parse(socket, (message) => {
      inbox.push(message);
      wake?.();
    });
    async function next(name: string): Promise<BackendMessage> {
      for (;;) {
        const index = inbox.findIndex((message) => message.name === name || message.name === 'error');
        if (index !== -1) {
          const [message] = inbox.splice(0, index + 1).slice(-1) as [BackendMessage];
          if (message.name === 'error') throw message;
          return message;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    }
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      serialize.startup({ user: target.username, database: target.pathname.slice(1) || 'postgres' }),
    );
    await next('readyForQuery');
    return { socket, next };
  }

  it("runs a connection's Bind on its own Parse while another connection queries in between", async () => {
    const paused = await rawConnection();
    try {
      paused.socket.write(
        Buffer.concat([serialize.parse({ text: 'SELECT $1::int * 2 AS n' }), serialize.flush()]),
      );
      await paused.next('parseComplete');

      const between = pool.query<{ s: string }>("SELECT $1::text || '!' AS s", ['between']);
      // Wait until the other query has reached the server: on PGlite it queues behind the open batch;
      // on a real server (its own session) it simply completes.
      let settled = false;
      void between.finally(() => (settled = true)).catch(() => undefined);
      while (!settled && !(pgliteQueuedMessages(url) ?? 0)) await new Promise(setImmediate);

      paused.socket.write(
        Buffer.concat([serialize.bind({ values: ['21'] }), serialize.execute(), serialize.sync()]),
      );
      const row = (await paused.next('dataRow')) as DataRowMessage;
      assert.deepEqual(row.fields, ['42']);
      await paused.next('readyForQuery');
      assert.deepEqual((await between).rows, [{ s: 'between!' }]);
    } finally {
      paused.socket.end(serialize.end());
    }
  });

  it('answers many concurrent parameterised queries each with its own statement and values', async () => {
    const queries = Array.from({ length: 100 }, (_, i) =>
      i % 2 === 0
        ? pool.query<{ answer: string }>('SELECT ($1::int * 2)::text AS answer', [i])
        : pool.query<{ answer: string }>("SELECT $1::text || '!' AS answer", [`q${i}`]),
    );
    const answers = await Promise.all(queries);
    answers.forEach((result, i) =>
      assert.deepEqual(result.rows, [{ answer: i % 2 === 0 ? String(i * 2) : `q${i}!` }]),
    );
  });

  it('keeps serving after a query fails mid-batch', async () => {
    const failing = pool.query('SELECT $1::int AS n', ['not a number']);
    const fine = pool.query<{ n: number }>('SELECT $1::int AS n', [7]);
    await assert.rejects(failing, /invalid input syntax for type integer/);
    assert.deepEqual((await fine).rows, [{ n: 7 }]);
  });
});
