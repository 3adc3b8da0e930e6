import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { useAdoptedRowsApp } from '../support/adopted-rows-app.js';
import { countRoundTrips } from '../support/round-trips.js';

interface SessionAnswer {
  access_token: string;
  refresh_token: string;
  user: { id: string; identities: unknown[] };
}

/**
 * GoTrue answers a refresh with its user's identities. They are read by the statement that rotates the
 * token (refreshedIdentitiesOf), one round trip per refresh (issue 17, goal 4), where they were a
 * second lookup after it; what the answer lists is what Store.listIdentities lists (GET /user).
 */
describe("a GoTrue refresh's identities, read with its token (PostgreSQL)", () => {
  const app = useAdoptedRowsApp();
  const { db } = app;
  let signedUp: SessionAnswer;

  before(async () => {
    signedUp = await app.signUp<SessionAnswer>('ada@example.com', 'a long passphrase');
    // Two more identities, newer than the email one, one never signed in with: the order and every
    // field must come through as the lookup gives them.
    await db.pool.query(
      `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
       VALUES ('gh-1', $1, '{"sub": "gh-1", "login": "ada"}', 'github', '2030-01-02T03:04:05.678Z', now() + interval '1 day', now()),
              ('sso-1', $1, '{"sub": "sso-1"}', 'sso:acme', NULL, now() + interval '2 days', now())`,
      [signedUp.user.id],
    );
    // The sign-up's mail is sent, and its outbox row deleted, in the background: done before any
    // round trip is counted (it was counted once, beside other suites on a loaded machine).
    await app.t.services.idle();
  });

  const refresh = (refreshToken: string) =>
    app.t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=refresh_token',
      payload: { refresh_token: refreshToken },
    });

  it('is one round trip, and lists what GET /user lists', async () => {
    const { answer: res, statements } = await countRoundTrips(db.url, () => refresh(signedUp.refresh_token));
    assert.equal(res.statusCode, 200, res.body);
    // Before: the refresh statement, then the user's identities.
    assert.equal(statements.length, 1, statements.join(' | '));
    const refreshed = res.json() as SessionAnswer;
    const user = await app.t.app.inject({
      method: 'GET',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${refreshed.access_token}` },
    });
    assert.equal(user.statusCode, 200, user.body);
    const listed = (user.json() as SessionAnswer['user']).identities;
    assert.equal(listed.length, 3);
    assert.deepEqual(refreshed.user.identities, listed);
  });

  it('refreshes asked for at once (one statement) each carry the identities the store lists', async () => {
    const { auth, store } = app.t.services;
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++)
      tokens.push((await auth.signIn(LOCAL_CALL, 'ada@example.com', 'a long passphrase')).refreshToken);
    await app.t.services.idle();
    const { answer: issued, count } = await countRoundTrips(db.url, () =>
      Promise.all(tokens.map((token) => auth.refresh(LOCAL_CALL, token))),
    );
    assert.equal(count, 1);
    const listed = await store.listIdentities(signedUp.user.id);
    for (const one of issued) assert.deepEqual(one.identities, listed);
  });
});
