import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

const GUESS = 'a guessed passphrase 1';

/**
 * A password sign-in (Store.findUserWithPasswordHash) naming an account that has no password (made
 * by an admin without one, as an invited or OAuth-only user is; on PostgreSQL also GoTrue's '' and a
 * NULL encrypted_password) or a banned one with a wrong password: the answer is an unknown login's,
 * byte for byte, and it costs one verification (the hasher's count), as an unknown login's does, so
 * neither the answer nor its time tells the account exists.
 */
for (const kind of ['file', 'postgres'] as const) {
  describe(`sign-in to an account without a password, ${kind} store`, () => {
    let t: TestApp;
    let drop: () => Promise<void>;

    before(async () => {
      const store = await suiteStore(kind);
      drop = store.drop;
      t = await createTestApp({
        format: 'restauth',
        config: { passwords: FAST_HASHING, signup: { confirmEmail: false }, ...store.config },
      });
      const { admin } = t.services;
      await admin.createUser(LOCAL_CALL, { email: 'no-password@corp.test', emailConfirm: true });
      await admin.createUser(LOCAL_CALL, { email: 'unconfirmed@corp.test' });
      await admin.createUser(LOCAL_CALL, {
        email: 'banned@corp.test',
        password: 'the banned passphrase 1',
        emailConfirm: true,
        banDuration: '24h',
      });
      if (t.config.store.type === 'postgres') {
        const client = new pg.Client({ connectionString: t.config.store.url });
        await client.connect();
        try {
          // As GoTrue leaves them: '' for a user without a password (OAuth, invite), or NULL.
          for (const [email, hash] of [
            ['gotrue-empty@corp.test', ''],
            ['gotrue-null@corp.test', null],
          ] as const) {
            const user = await admin.createUser(LOCAL_CALL, { email, password: GUESS, emailConfirm: true });
            await client.query('UPDATE auth.users SET encrypted_password = $2 WHERE id = $1', [
              user.id,
              hash,
            ]);
          }
        } finally {
          await client.end();
        }
      }
    });
    after(async () => {
      await t?.close();
      await drop?.();
    });

    async function signIn(email: string) {
      const before = t.services.hasher.verifications;
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email, password: GUESS },
      });
      return {
        status: res.statusCode,
        body: res.body,
        verifications: t.services.hasher.verifications - before,
      };
    }

    it('answers as for an unknown login, after one verification', async () => {
      const unknown = await signIn('nobody@corp.test');
      assert.equal(unknown.status, 400);
      assert.equal(unknown.verifications, 1);
      const accounts = ['no-password@corp.test', 'unconfirmed@corp.test', 'banned@corp.test'];
      if (kind === 'postgres') accounts.push('gotrue-empty@corp.test', 'gotrue-null@corp.test');
      for (const email of accounts) {
        assert.deepEqual(await signIn(email), unknown, email);
      }
    });
  });
}
