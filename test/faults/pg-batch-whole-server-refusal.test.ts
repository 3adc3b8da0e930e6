import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { SessionManager } from '../../src/core/sessions.js';
import { namedUser } from '../support/named-user.js';
import { realServerOnly } from '../support/postgres.js';
import { countRoundTrips } from '../support/round-trips.js';
import { openServerKeySession, refreshSettings } from '../support/server-key-session.js';
import { useTestDatabase } from '../support/test-database.js';

const code = (answer: Promise<unknown>) =>
  answer.then(
    () => 'ok',
    (error: { code?: string }) => error.code ?? String(error),
  );

/**
 * A refresh batch the server refused for what one entry may have met (a constraint, a lock timeout)
 * is sent again entry by entry; one refused for what every entry meets alike is not. A part of the
 * schema changed under the running server (a DBA renaming restauth's table: 42P01) was taken for an
 * entry's refusal, so a batch of n entries cost n + 1 failing statements, and a refused login or
 * privilege, a database dropped, likewise n + 1 logins or statements, on a server already in
 * trouble. The fault is made for real: the table renamed under three refreshes asked for at once.
 */
describe(
  'a refresh batch refused by the whole server is not sent again per entry',
  { skip: realServerOnly() ?? false },
  () => {
    const database = useTestDatabase();
    let userId: string;
    const keys = { imported: randomBytes(32), successors: randomBytes(32) };

    before(async () => {
      userId = (await database.store.createUser(namedUser('whole-server'), null)).id;
    });

    it('a table renamed under it: each caller gets the error of one statement', async () => {
      const opened: { id: string; token: string }[] = [];
      for (let i = 0; i < 3; i++) opened.push(await openServerKeySession(database.store, userId));
      await database.pool.query('ALTER TABLE auth.refresh_tokens RENAME TO refresh_tokens_moved');
      try {
        const manager = new SessionManager(database.store, refreshSettings, keys);
        const now = new Date();
        const trips = await countRoundTrips(database.url, () =>
          Promise.all(opened.map((session) => code(manager.rotate(session.token, now)))),
        );
        assert.deepEqual(trips.answer, ['42P01', '42P01', '42P01']);
        assert.equal(trips.count, 1, `one statement, sent: ${trips.statements.join(' | ')}`);
      } finally {
        await database.pool.query('ALTER TABLE auth.refresh_tokens_moved RENAME TO refresh_tokens');
      }
    });
  },
);
