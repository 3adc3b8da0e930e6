import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * The file store deleted a user in two transactions: its db.json record, then its credentials. A
 * json-data-server user's id is its name, so the same name registered again between the two had its
 * fresh password, sessions and tokens removed by the second: the new account could never sign in.
 * The interleaving is made, not hoped for: the store's first journaled transaction of the deletion
 * is wrapped so that, once it has committed, the name is registered again (through the same app)
 * before the deletion goes on. Deletion is now one transaction, as sign-up is.
 */
describe('a json-data-server name registered again while its user is being deleted (file store)', () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { passwords: FAST_HASHING, dialects: { jsonDataServer: {} } },
    });
  });
  after(() => t.close());

  const login = (username: string, password: string) =>
    t.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });

  /** Runs `deletion` with the file database's next journaled transaction followed by `between`. */
  const afterFirstTransaction = async (between: () => Promise<void>, deletion: () => Promise<void>) => {
    const db = (t.services.store as unknown as { db: { transactJournaled: (...args: unknown[]) => unknown } })
      .db;
    const original = db.transactJournaled;
    let ran = false;
    db.transactJournaled = async (...args: unknown[]) => {
      db.transactJournaled = original;
      const result = await original.apply(db, args);
      ran = true;
      await between();
      return result;
    };
    try {
      await deletion();
      assert.ok(ran, 'the deletion ran no journaled transaction');
    } finally {
      db.transactJournaled = original;
    }
  };

  it('the new account keeps its password and signs in', async () => {
    await registeredToken(t, 'bob', 'first passphrase 1');
    const old = await t.services.store.findUserByUsername('bob');
    await afterFirstTransaction(
      async () => {
        await registeredToken(t, 'bob', 'second passphrase 2');
      },
      () => t.services.admin.deleteUser(LOCAL_CALL, old!.id),
    );
    const res = await login('bob', 'second passphrase 2');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await login('bob', 'first passphrase 1')).statusCode, 400);
  });
});
