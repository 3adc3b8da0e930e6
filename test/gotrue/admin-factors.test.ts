import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import { namedUser } from '../support/named-user.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * GoTrue's admin factor routes load the user first (its loadUser middleware, before any handler under
 * /admin/users/{user_id}): an id naming no user is 404 user_not_found. restauth answered 200 [] for
 * any id, so a caller could not tell a user without factors from no user at all. An id that is not a
 * UUID is GoTrue's 404 validation_failed "user_id must be an UUID" on every /admin/users/:id route,
 * unless a user of the file store has it (a user name as id).
 */
const UNKNOWN = '7b0e5e4e-0000-4000-8000-000000000000';
const FACTOR = '2c9a3f6e-0000-4000-8000-000000000000';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`admin factor routes (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, {});
    let t: TestApp;
    let token: string;
    let userId: string;
    before(async () => {
      t = app.t;
      token = await serviceTokenOf(t);
      const user = await t.services.admin.createUser(LOCAL_CALL, {
        email: 'fay@acme.test',
        password: 'a long passphrase',
        emailConfirm: true,
      });
      userId = user.id;
    });

    const call = (method: 'GET' | 'PUT' | 'DELETE', url: string) =>
      t.app.inject({
        method,
        url: `/auth/v1${url}`,
        headers: { authorization: `Bearer ${token}` },
        ...(method === 'PUT' ? { payload: {} } : {}),
      });

    it('answers 404 user_not_found for an id naming no user, on every factor route', async () => {
      for (const [method, url] of [
        ['GET', `/admin/users/${UNKNOWN}/factors`],
        ['PUT', `/admin/users/${UNKNOWN}/factors/${FACTOR}`],
        ['DELETE', `/admin/users/${UNKNOWN}/factors/${FACTOR}`],
      ] as const) {
        const answer = await call(method, url);
        assert.equal(answer.statusCode, 404, `${method} ${url}: ${answer.body}`);
        assert.equal(answer.json().error_code, 'user_not_found', `${method} ${url}`);
      }
    });

    it('answers 404 validation_failed for an id that is not a UUID and names no user, on every user route', async () => {
      for (const [method, url] of [
        ['GET', '/admin/users/not-a-user'],
        ['PUT', '/admin/users/not-a-user'],
        ['DELETE', '/admin/users/not-a-user'],
        ['GET', '/admin/users/not-a-user/factors'],
        ['PUT', `/admin/users/not-a-user/factors/${FACTOR}`],
        ['DELETE', `/admin/users/not-a-user/factors/${FACTOR}`],
      ] as const) {
        const answer = await call(method, url);
        assert.equal(answer.statusCode, 404, `${method} ${url}: ${answer.body}`);
        assert.deepEqual(
          [answer.json().error_code, answer.json().msg],
          ['validation_failed', 'user_id must be an UUID'],
          `${method} ${url}`,
        );
      }
    });

    if (storeKind === 'file') {
      it('still serves a file-store user whose id is a user name', async () => {
        const named = await t.services.store.createUser(namedUser('quinn'), null);
        assert.equal(named.id, 'quinn');
        const answer = await call('GET', '/admin/users/quinn');
        assert.equal(answer.statusCode, 200, answer.body);
        assert.equal(answer.json().id, 'quinn');
      });
    }

    it("answers a user's factors (none) and refuses a factor it does not have", async () => {
      const listed = await call('GET', `/admin/users/${userId}/factors`);
      assert.equal(listed.statusCode, 200, listed.body);
      assert.deepEqual(listed.json(), []);
      for (const method of ['PUT', 'DELETE'] as const) {
        const answer = await call(method, `/admin/users/${userId}/factors/${FACTOR}`);
        assert.equal(answer.statusCode, 404, answer.body);
        assert.equal(answer.json().error_code, 'mfa_factor_not_found');
      }
    });
  });
}
