import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FAST_HASHING } from '../support/gotrue.js';
import { appOnStore } from '../support/mailing-app-on-store.js';

/**
 * Role per user (roles.perUser): a user's tokens claim a role named after the user. A user named
 * like one of the configured roles (the service role above all, which RLS policies and other
 * services reading the JWT trust by name) claimed that role; PostgreSQL's pg_roles check only
 * caught a role already created in the cluster, and the file store had none. Such a name is now
 * refused at sign-up in every dialect, on both stores, and no database role is made for it.
 */

/** Roles are cluster-wide: the names this file configures are its own (postgrest-auth's user names are [A-Za-z0-9]). */
const suffix = randomBytes(3).toString('hex');
const ROLES = {
  anonymous: `anon${suffix}`,
  authenticated: `authenticated${suffix}`,
  service: `servicerole${suffix}`,
};

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a user named like a configured role (${storeKind} store)`, () => {
    const app = appOnStore(storeKind, {
      passwords: FAST_HASHING,
      roles: { ...ROLES, perUser: true },
      dialects: { jsonDataServer: {}, postgrestAuth: {} },
      data: { enabled: false },
    });

    const signUps = (name: string) => [
      { url: '/auth/register', payload: { username: name, password: 'a long passphrase' } },
      { url: '/auth/users', payload: { username: name, password: 'a long passphrase' } },
    ];

    it('is refused at sign-up (400), in any case, and no account or role is made', async () => {
      for (const role of Object.values(ROLES)) {
        for (const name of [role, role.toUpperCase()]) {
          for (const { url, payload } of signUps(name)) {
            const res = await app.t.app.inject({ method: 'POST', url, payload });
            assert.equal(res.statusCode, 400, `${url} ${name}: ${res.body}`);
            assert.match(res.body, /cannot name a database role: it is reserved/u, `${url} ${name}`);
          }
          assert.equal(await app.t.services.store.findUserByUsername(role), null, name);
        }
      }
    });

    it('an account made before such names were refused gets no token claiming its role', async () => {
      // As stored by a version that did not refuse the name at sign-up.
      const name = ROLES.service;
      const made = await app.t.services.store.createUser(
        { username: name, email: null, emailConfirmedAt: null, role: name, profile: {}, appMetadata: {} },
        await app.t.services.hasher.hash('a long passphrase'),
      );
      // json-data-server's sign-in, postgrest-auth's sign-in by refresh_token.
      for (const url of ['/auth/login', '/auth/refresh_token']) {
        const res = await app.t.app.inject({
          method: 'POST',
          url,
          payload: { username: name, password: 'a long passphrase' },
        });
        // Each dialect words a refusal its own way (json-data-server answers every one 400).
        assert.ok(res.statusCode === 400 || res.statusCode === 403, `${url}: ${res.statusCode} ${res.body}`);
        assert.match(res.body, /database role is reserved/u, url);
        assert.doesNotMatch(res.body, /eyJ/u, `${url}: no token`);
      }
      // Refused before the sign-in wrote: no session was opened, no sign-in recorded.
      assert.deepEqual(await app.t.services.store.listSessions(made.id), []);
      assert.equal((await app.t.services.store.findUserById(made.id))?.lastSignInAt, null);
    });

    it('leaves other names their own role', async () => {
      const res = await app.t.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { username: `carol${suffix}`, password: 'a long passphrase' },
      });
      assert.equal(res.statusCode, 200, res.body);
      const user = await app.t.services.store.findUserByUsername(`carol${suffix}`);
      assert.equal(user?.role, `carol${suffix}`);
    });
  });
}
