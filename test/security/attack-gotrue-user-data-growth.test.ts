import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isAuthApiError } from '@supabase/auth-js';
import { createTestApp, type TestApp } from '../support/app.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { FAST_HASHING, gotrueClient, listen, serviceAdminOf } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';

const PASSWORD = 'a long passphrase';
/** The smallest body limit the schema takes: a few keys of a third of it reach it. */
const BODY_LIMIT = 4096;
const THIRD = 'x'.repeat(1300);

/** The status and GoTrue code of an auth-js error, to compare at once. */
function refusal(error: unknown): { status: number; code: string | undefined } | null {
  if (error === null) return null;
  assert.ok(isAuthApiError(error), String(error));
  return { status: error.status, code: error.code };
}

const TOO_LARGE = { status: 413, code: 'request_entity_too_large' };

/**
 * The attack: every request is held to bodyLimit, but GoTrue's PUT /user merges its `data` into
 * user_metadata key by key, so one account could add a body's worth per request and grow its record
 * without bound (observed before the fix: 30 requests of 95 KB under the default 100 KB limit made a
 * sign-in answer of 6.6 MB carrying a 3.8 MB access token; the file store keeps the record in memory
 * and db.json, the data API serves it). An administrator's merges of user_metadata and app_metadata
 * are bounded alike. Through auth-js and its admin client over HTTP, on both stores.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`user data grows no larger than bodyLimit, one merge at a time (${storeKind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    let url: string;

    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: { ...store.config, passwords: FAST_HASHING, bodyLimit: BODY_LIMIT },
      });
      url = await listen(t);
    });
    after(async () => {
      await t?.close();
      await store?.drop();
    });

    /** A signed-in auth-js client of a new account whose data is three keys, one short of the bound. */
    const nearlyFull = async (email: string) => {
      const { client } = gotrueClient(url);
      assert.equal((await client.signUp({ email, password: PASSWORD })).error, null);
      for (const key of ['a', 'b', 'c'])
        assert.equal((await client.updateUser({ data: { [key]: THIRD } })).error, null);
      return client;
    };

    it('PUT /user: a key that takes the data past the bound is refused and stores nothing; removing one is not', async () => {
      const client = await nearlyFull('ann@acme.test');
      // Each body is a third of the limit: the fourth key would make the data larger than a body.
      assert.deepEqual(refusal((await client.updateUser({ data: { d: THIRD } })).error), TOO_LARGE);
      const stored = await client.getUser();
      assert.deepEqual(Object.keys(stored.data.user!.user_metadata).sort(), ['a', 'b', 'c']);

      // A merge that makes the data smaller passes, and then the room it made can be used.
      assert.equal((await client.updateUser({ data: { a: null } })).error, null);
      assert.equal((await client.updateUser({ data: { d: THIRD } })).error, null);
      const after = await client.getUser();
      assert.deepEqual(Object.keys(after.data.user!.user_metadata).sort(), ['b', 'c', 'd']);
    });

    it('PUT /user: refused for its data, the same request changes no password', async () => {
      const client = await nearlyFull('bob@acme.test');
      const refused = await client.updateUser({ password: 'another long passphrase', data: { d: THIRD } });
      assert.deepEqual(refusal(refused.error), TOO_LARGE);
      const { client: again } = gotrueClient(url);
      const signedIn = await again.signInWithPassword({ email: 'bob@acme.test', password: PASSWORD });
      assert.equal(signedIn.error, null, 'the password the refused request named was set');
    });

    it('PUT /user: refused for its data, the same request starts no email change', async () => {
      const client = await nearlyFull('dee@acme.test');
      const refused = await client.updateUser({ email: 'dee@work.test', data: { d: THIRD } });
      assert.deepEqual(refusal(refused.error), TOO_LARGE);
      const user = (await client.getUser()).data.user!;
      assert.equal(user.new_email, undefined, 'the refused request mailed an email change');
    });

    it('PUT /user: a merge refused on its retry (a racing write took the room) starts no email change', async () => {
      // The early check passes; the administrator's write then makes the compare-and-set fail, and the
      // merge done again on the fresh data is over the bound. The email change was mailed before that
      // merge: the mail now follows the write. The race is made (commitAfterRead), not hoped for.
      const { client } = gotrueClient(url);
      const signUp = await client.signUp({ email: 'ivy@acme.test', password: PASSWORD });
      assert.equal(signUp.error, null);
      for (const key of ['a', 'b'])
        assert.equal((await client.updateUser({ data: { [key]: THIRD } })).error, null);
      const admin = await serviceAdminOf({ url, t });
      const addKey = async () =>
        assert.equal(
          (await admin.updateUserById(signUp.data.user!.id, { user_metadata: { x: THIRD } })).error,
          null,
        );
      const refused = await commitAfterRead(t.services.store, addKey, ['findUserByEmail'], () =>
        client.updateUser({ email: 'ivy@work.test', data: { c: THIRD } }),
      );
      assert.deepEqual(refusal(refused.error), TOO_LARGE);
      const user = (await client.getUser()).data.user!;
      assert.deepEqual(Object.keys(user.user_metadata).sort(), ['a', 'b', 'x']);
      assert.equal(user.new_email, undefined, 'the refused request started an email change');
    });

    it('admin updates: user_metadata and app_metadata are bounded alike', async () => {
      const admin = await serviceAdminOf({ url, t });
      const created = await admin.createUser({
        email: 'cy@acme.test',
        password: PASSWORD,
        email_confirm: true,
      });
      assert.equal(created.error, null);
      const id = created.data.user!.id;
      for (const field of ['user_metadata', 'app_metadata'] as const) {
        for (const key of ['a', 'b', 'c'])
          assert.equal((await admin.updateUserById(id, { [field]: { [key]: THIRD } })).error, null);
        const refused = await admin.updateUserById(id, { [field]: { d: THIRD } });
        assert.deepEqual(refusal(refused.error), TOO_LARGE, field);
        const user = (await admin.getUserById(id)).data.user!;
        assert.equal(user[field]['d'], undefined, field);
      }
    });
  });
}
