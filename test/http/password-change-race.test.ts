import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredSession } from '../support/json-data-server.js';
import { realServerOnly, suiteStore } from '../support/postgres.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * Concurrent password changes of one account, each proven with the same
 * current password, over HTTP on both stores: one wins, the others fail
 * (compare-and-set, Store.changePassword), and only the winner's password
 * and session survive.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`racing password changes (${storeKind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: { ...store.config, passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } },
      });
    });
    after(async () => {
      await t.close();
      await store.drop();
    });

    const post = async (url: string, payload: Record<string, string>) => {
      const res = await t.app.inject({ method: 'POST', url, payload });
      return { status: res.statusCode, body: res.body, json: () => res.json() as Record<string, string> };
    };

    it(
      'three changes proven with the same password: one wins, the others fail and open no session',
      // On PGlite one transaction runs at a time: the race would be a serial schedule.
      { skip: storeKind === 'postgres' ? (realServerOnly() ?? false) : false },
      async () => {
        const before = await registeredSession(t, 'racer', 'the old one');
        const changes = ['new one A', 'new one B', 'new one C'];
        const answers = await Promise.all(
          changes.map((newpassword) =>
            post('/auth/password', { username: 'racer', password: 'the old one', newpassword }),
          ),
        );
        const won = answers.flatMap((answer, i) => (answer.status === 200 ? [i] : []));
        assert.equal(won.length, 1, answers.map((answer) => `${answer.status} ${answer.body}`).join('; '));
        for (const answer of answers) if (answer.status !== 200) assert.equal(answer.status, 400);
        const winner = won[0]!;

        // Only the winner's password works.
        for (const [i, password] of changes.entries()) {
          const login = await post('/auth/login', { username: 'racer', password });
          assert.equal(login.status, i === winner ? 200 : 400, password);
        }
        assert.equal((await post('/auth/login', { username: 'racer', password: 'the old one' })).status, 400);

        // Only the winner's session survives: the one before the race has ended.
        const check = async (token: string) =>
          (await post('/auth/check', { access_token: token })).json().valid as unknown as boolean;
        assert.equal(await check(answers[winner]!.json().access_token!), true);
        assert.equal(await check(before.access_token), false);
        assert.equal((await post('/auth/refresh', { refresh_token: before.refresh_token })).status, 400);
      },
    );

    it(
      'GoTrue PUT /user from two sessions at once: one wins, the loser’s session does not survive',
      { skip: storeKind === 'postgres' ? (realServerOnly() ?? false) : false },
      async () => {
        const service = await serviceTokenOf(t);
        const created = await t.app.inject({
          method: 'POST',
          url: '/auth/v1/admin/users',
          headers: { authorization: `Bearer ${service}` },
          payload: { email: 'twotabs@acme.test', password: 'the old one', email_confirm: true },
        });
        assert.equal(created.statusCode, 200, created.body);
        const signIn = async (password: string) =>
          t.app.inject({
            method: 'POST',
            url: '/auth/v1/token?grant_type=password',
            payload: { email: 'twotabs@acme.test', password },
          });
        const tabs = await Promise.all([signIn('the old one'), signIn('the old one')]);
        const tokens = tabs.map((tab) => tab.json().access_token as string);
        const changes = ['tab one password', 'tab two password'];
        const answers = await Promise.all(
          tokens.map((token, i) =>
            t.app.inject({
              method: 'PUT',
              url: '/auth/v1/user',
              headers: { authorization: `Bearer ${token}` },
              payload: { password: changes[i] },
            }),
          ),
        );
        const won = answers.flatMap((answer, i) => (answer.statusCode === 200 ? [i] : []));
        assert.equal(
          won.length,
          1,
          answers.map((answer) => `${answer.statusCode} ${answer.body}`).join('; '),
        );
        const winner = won[0]!;
        const loser = 1 - winner;
        assert.equal(answers[loser]!.statusCode, 403, answers[loser]!.body);
        assert.equal((await signIn(changes[winner]!)).statusCode, 200);
        assert.equal((await signIn(changes[loser]!)).statusCode, 400);
        const me = (token: string) =>
          t.app.inject({
            method: 'GET',
            url: '/auth/v1/user',
            headers: { authorization: `Bearer ${token}` },
          });
        assert.equal((await me(tokens[winner]!)).statusCode, 200, 'the winner’s session goes on');
        assert.equal((await me(tokens[loser]!)).statusCode, 403, 'the loser’s session has ended');
      },
    );
  });
}
