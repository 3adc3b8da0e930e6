import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { AuthError, isAuthError } from '../../src/core/errors.js';
import type { Store } from '../../src/core/ports/store.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { commitAfterRead as commitAfterStoreRead } from '../support/commit-after-read.js';
import { appOnStore, mailingAppOnStore } from '../support/mailing-app-on-store.js';
import { realServerOnly } from '../support/postgres.js';
import { withDba } from '../support/refused-writes.js';
import { lockWaiters } from '../support/lock-waiters.js';
import { challengeOf, exchangePkceCode, newVerifier } from '../support/pkce.js';
import type { FlowStateStore } from '../../src/core/ports/flow-states.js';

/**
 * A ban committed after a flow read the account (and found it not banned) and before its write:
 * the write must refuse it, or the banned account gets a session, a new password or a new address
 * all the same. The interleaving is made, not hoped for: the store call whose answer the flow reads
 * last before its write is wrapped so that, once it has answered, the administrator's ban commits
 * (through the same app), and only then does the flow go on with what it read.
 */
const PASSWORD = 'ban race passphrase 1';

/** postgrest-auth's change_password body: PASSWORD proves `username`, a new one replaces it. */
const passwordChange = (username: string) => ({
  username,
  current_password: PASSWORD,
  new_password: 'a new passphrase 22',
  new_password_confirm: 'a new passphrase 22',
});

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a ban between a flow's read and its write (${storeKind} store)`, { timeout: 60_000 }, () => {
    const app = mailingAppOnStore(storeKind, {
      passwords: FAST_HASHING,
      signup: { confirmEmail: false },
      dialects: { gotrue: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
    });
    let serial = 0;

    /** A confirmed account with a user name and PASSWORD. */
    const account = async () => {
      const n = ++serial;
      const user = await app.t.services.auth.register(LOCAL_CALL, {
        username: `racer${n}`,
        email: `racer${n}@corp.test`,
        password: PASSWORD,
        emailConfirmed: true,
      });
      return { id: user.id, username: `racer${n}`, email: `racer${n}@corp.test` };
    };

    /**
     * Runs `flow` with the store's `reads` wrapped: the first of them to answer (for this user) lets
     * the ban of `userId` commit before the flow receives the answer it read before the ban.
     */
    const banAfterRead = <T>(userId: string, reads: string[], flow: () => Promise<T>): Promise<T> =>
      commitAfterRead(
        () => app.t.services.admin.updateUser(LOCAL_CALL, userId, { banDuration: '24h' }),
        reads,
        flow,
      );

    const commitAfterRead = <T>(commit: () => Promise<unknown>, reads: string[], flow: () => Promise<T>) =>
      commitAfterStoreRead(app.t.services.store, commit, reads, flow);

    const post = (url: string, payload: Record<string, unknown>) =>
      app.t.app.inject({ method: 'POST', url, payload });
    const liveSessions = async (store: Store, userId: string) => (await store.listSessions(userId)).length;
    /** A recovery link for `user`, and postgrest-auth's reset by its token to `password`, to run (again). */
    const pgResetByLink = async (user: { email: string; username: string }, password: string) => {
      const link = await app.t.services.admin.generateLink(LOCAL_CALL, {
        type: 'recovery',
        email: user.email,
        redirectTo: null,
      });
      return () =>
        post('/pg/change_password', {
          username: user.username,
          reset_token: link.token,
          new_password: password,
          new_password_confirm: password,
        });
    };
    const PASSWORD_READS = ['findUserWithPasswordHash', 'getPasswordHash'];

    it('a password sign-in: 400 user_banned, no session opened', async () => {
      const user = await account();
      const res = await banAfterRead(user.id, PASSWORD_READS, () =>
        post('/auth/v1/token?grant_type=password', { email: user.email, password: PASSWORD }),
      );
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error_code, 'user_banned');
      assert.equal(await liveSessions(app.t.services.store, user.id), 0);
    });

    it('a password changed with the current one (postgrest-auth): user_banned, the password unchanged', async () => {
      const user = await account();
      const before = await app.t.services.store.getPasswordHash(user.id);
      const res = await banAfterRead(user.id, PASSWORD_READS, () =>
        post('/pg/change_password', passwordChange(user.username)),
      );
      // postgrest-auth answers a ban 400, as its sign-in does.
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.body, /banned/iu);
      assert.equal(await app.t.services.store.getPasswordHash(user.id), before);
      assert.equal(await liveSessions(app.t.services.store, user.id), 0);
    });

    it('an address moved with the password (postgrest-auth change_email): user_banned, the address kept', async () => {
      const user = await account();
      const res = await banAfterRead(user.id, ['findUserById'], () =>
        post('/pg/change_email', { username: user.username, password: PASSWORD, email: 'moved@corp.test' }),
      );
      // postgrest-auth answers a ban 400, as its sign-in does.
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.body, /banned/iu);
      assert.equal((await app.t.services.store.findUserById(user.id))?.email, user.email);
    });

    it('a profile write (PUT /user data): user_banned, user_metadata unchanged', async () => {
      const user = await account();
      const signIn = await post('/auth/v1/token?grant_type=password', {
        email: user.email,
        password: PASSWORD,
      });
      const before = (await app.t.services.store.findUserById(user.id))?.profile;
      // The session check's reads (session and user) are the flow's last before its write.
      const res = await banAfterRead(user.id, ['findUserById'], () =>
        app.t.app.inject({
          method: 'PUT',
          url: '/auth/v1/user',
          headers: { authorization: `Bearer ${signIn.json().access_token}` },
          payload: { data: { plan: 'stolen' } },
        }),
      );
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().error_code, 'user_banned');
      assert.deepEqual((await app.t.services.store.findUserById(user.id))?.profile, before);
    });

    it('a provider sign-in’s metadata merge: user_banned, user_metadata unchanged', async () => {
      const user = await account();
      const signIn = (name: string) =>
        app.t.services.oauth.signIn.signIn(LOCAL_CALL, {
          provider: 'github',
          claims: {
            subject: `gh-${user.username}`,
            email: user.email,
            emailVerified: true,
            name,
            avatarUrl: null,
            extra: {},
          },
          issuer: null,
          emailOptional: false,
          redirectTo: null,
        });
      await signIn('First Name');
      const before = (await app.t.services.store.findUserById(user.id))?.profile;
      // The identity's write is the last store answer before the provider's data is merged.
      await assert.rejects(
        banAfterRead(user.id, ['linkIdentity'], () => signIn('Merged After The Ban')),
        (error) => isAuthError(error) && error.code === 'user_banned',
      );
      assert.deepEqual((await app.t.services.store.findUserById(user.id))?.profile, before);
    });

    /** POSTs, then awaits the mail its answer left to do (the lookup, the token, the mail's delivery). */
    const postAndMail = async (url: string, payload: Record<string, unknown>) => {
      const res = await post(url, payload);
      await app.t.services.idle();
      return res;
    };

    for (const [flow, url, purpose] of [
      ['a recovery mail (POST /recover)', '/auth/v1/recover', 'recovery'],
      ['a magic link (POST /otp)', '/auth/v1/otp', 'magiclink'],
    ] as const) {
      it(`${flow}: answered as for an unknown address, no token, no mail`, async () => {
        const user = await account();
        // Its welcome mail delivered: only what the flow mails comes after.
        await app.t.services.idle();
        const mailedBefore = app.sink.mails.length;
        const res = await banAfterRead(user.id, ['findUserByEmail'], () =>
          postAndMail(url, { email: user.email }),
        );
        assert.equal(res.statusCode, 200, res.body);
        const unknown = await postAndMail(url, { email: 'nobody@corp.test' });
        assert.deepEqual(res.json(), unknown.json());
        assert.equal(await app.t.services.store.findOneTimeToken(user.id, purpose, new Date()), null);
        assert.deepEqual(
          app.sink.mails.slice(mailedBefore).filter((mail) => mail.to === user.email),
          [],
        );
      });
    }

    it('an invitation (the admin service POST /invite calls): the administrator is told user_banned, nothing is mailed', async () => {
      const email = `invited-racer-${storeKind}@corp.test`;
      const invited = await app.t.services.admin.createUser(LOCAL_CALL, { email });
      await app.t.services.idle();
      const mailedBefore = app.sink.mails.length;
      await assert.rejects(
        banAfterRead(invited.id, ['findUserByEmail'], () =>
          app.t.services.admin.inviteUser(LOCAL_CALL, { email, redirectTo: null }),
        ),
        (error) => isAuthError(error) && error.code === 'user_banned',
      );
      await app.t.services.idle();
      assert.deepEqual(app.sink.mails.slice(mailedBefore), []);
      assert.equal(await app.t.services.store.findOneTimeToken(invited.id, 'invite', new Date()), null);
    });

    it('an invitation of an account deleted after its lookup: user_not_found, nothing is mailed', async () => {
      const email = `invited-gone-${storeKind}@corp.test`;
      const invited = await app.t.services.admin.createUser(LOCAL_CALL, { email });
      await app.t.services.idle();
      const mailedBefore = app.sink.mails.length;
      await assert.rejects(
        commitAfterRead(
          () => app.t.services.admin.deleteUser(LOCAL_CALL, invited.id),
          ['findUserByEmail'],
          () => app.t.services.admin.inviteUser(LOCAL_CALL, { email, redirectTo: null }),
        ),
        (error) => isAuthError(error) && error.code === 'user_not_found',
      );
      await app.t.services.idle();
      assert.deepEqual(app.sink.mails.slice(mailedBefore), []);
    });

    it('an email change (PUT /user email) banned after its first mail’s write: 403, the current address not mailed', async () => {
      const user = await account();
      const signIn = await post('/auth/v1/token?grant_type=password', {
        email: user.email,
        password: PASSWORD,
      });
      await app.t.services.idle();
      const mailedBefore = app.sink.mails.length;
      // The new address's token and mail are written before the ban; the current address's after it.
      const res = await banAfterRead(user.id, ['createOneTimeToken'], () =>
        app.t.app.inject({
          method: 'PUT',
          url: '/auth/v1/user',
          headers: { authorization: `Bearer ${signIn.json().access_token}` },
          payload: { email: `moved-${user.username}@corp.test` },
        }),
      );
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().error_code, 'user_banned');
      await app.t.services.idle();
      assert.deepEqual(
        app.sink.mails.slice(mailedBefore).filter((mail) => mail.to === user.email),
        [],
      );
      const current = await app.t.services.store.findOneTimeToken(
        user.id,
        'email_change_current',
        new Date(),
      );
      assert.equal(current, null);
    });

    it("an email change's last confirmation banned after its spend: 403, and its links move the account once the ban is lifted", async () => {
      const user = await account();
      const newEmail = `moved-${user.username}@corp.test`;
      const link = (type: 'email_change_current' | 'email_change_new') =>
        app.t.services.admin.generateLink(LOCAL_CALL, {
          type,
          email: user.email,
          newEmail,
          redirectTo: null,
        });
      const toCurrent = await link('email_change_current');
      const toNew = await link('email_change_new');
      const verify = (tokenHash: string) =>
        post('/auth/v1/verify', { type: 'email_change', token_hash: tokenHash });
      const first = await verify(toCurrent.token);
      assert.equal(first.statusCode, 200, first.body);
      // The last read before the address's write (the new address's holder, if any), after the
      // link and the first side's mark were spent.
      const refused = await banAfterRead(user.id, ['findUserByEmail'], () => verify(toNew.token));
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal(refused.json().error_code, 'user_banned');
      assert.equal((await app.t.services.store.findUserById(user.id))?.email, user.email);

      await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { banDuration: 'none' });
      // Spent for good before (the link and the mark), the change was dead: otp_expired.
      const moved = await verify(toNew.token);
      assert.equal(moved.statusCode, 200, moved.body);
      assert.equal((await app.t.services.store.findUserById(user.id))?.email, newEmail);
    });

    it('a PKCE exchange banned after its check: user_banned, a racing exchange finds the flow kept, the ban ends it', async () => {
      const user = await account();
      const { pkce, store } = app.t.services;
      const verifier = newVerifier();
      const challenge = { challenge: challengeOf(verifier).code_challenge, method: 's256' } as const;
      const code = await pkce.issueCode(
        (await store.findUserById(user.id))!,
        await pkce.start(user.id, 'magiclink', challenge),
      );
      const exchange = () => exchangePkceCode((options) => app.t.app.inject(options), code, verifier);
      const flowStates = (pkce as unknown as { deps: { flowStates: FlowStateStore } }).deps.flowStates;
      const { consumeFlowState } = flowStates;
      let raced = null as LightMyRequestResponse | null;
      flowStates.consumeFlowState = async (...args) => {
        flowStates.consumeFlowState = consumeFlowState;
        // After the exchange judged the user (admit), before its spend: the ban's own write, before the
        // administrator's ban goes on to end the account's flows (AdminService.updateUser).
        await store.updateUser(user.id, { bannedUntil: new Date(Date.now() + 86_400_000) });
        try {
          return await consumeFlowState.apply(flowStates, args);
        } finally {
          // A second exchange of the same code runs to its answer before the first goes on.
          raced = await exchange();
        }
      };
      let first: LightMyRequestResponse;
      try {
        first = await exchange();
      } finally {
        flowStates.consumeFlowState = consumeFlowState;
      }
      assert.equal(first.json().error_code, 'user_banned', first.body);
      assert.ok(raced, 'the exchange reached its spend');
      // Spent, then refused (and only then stored again), the flow was gone for it: flow_state_not_found.
      assert.equal(raced.json().error_code, 'user_banned', raced.body);
      // The ban, once it has done all it does, ended the flow with the sessions: lifted, the code is dead.
      await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { banDuration: '24h' });
      await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { banDuration: 'none' });
      const lifted = await exchange();
      assert.equal(lifted.json().error_code, 'flow_state_not_found', lifted.body);
    });

    it("postgrest-auth's reset token banned between the spend's check and the password's: refused, the token kept", async () => {
      const user = await account();
      const reset = await pgResetByLink(user, 'a new passphrase 33');
      // The spend's own check reads the account first (findUserById), the reset reads it again.
      const refused = await banAfterRead(user.id, ['findUserById'], reset);
      assert.equal(refused.statusCode, 400, refused.body);
      assert.match(refused.body, /banned/iu);
      await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { banDuration: 'none' });
      // Judged outside the spend's restore, the ban spent the token: otp_expired after the lift.
      const lifted = await reset();
      assert.equal(lifted.statusCode, 200, lifted.body);
    });

    it("postgrest-auth's reset token refused by a full hashing pool (503): the token kept", async () => {
      const user = await account();
      const reset = await pgResetByLink(user, 'a new passphrase 44');
      // The pool's own answer when its queue is full, once (a full queue for real needs seconds of
      // hashing on every core: the bench's work, not a test's).
      const { hasher } = app.t.services;
      const { hash } = hasher;
      hasher.hash = async () => {
        hasher.hash = hash;
        throw new AuthError('over_capacity');
      };
      try {
        const shed = await reset();
        assert.equal(shed.statusCode, 503, shed.body);
      } finally {
        hasher.hash = hash;
      }
      const retried = await reset();
      assert.equal(retried.statusCode, 200, retried.body);
    });

    it('a recovery mail (POST /recover) for an account deleted after its lookup: no token, no mail', async () => {
      const user = await account();
      await app.t.services.idle();
      const mailedBefore = app.sink.mails.length;
      const res = await commitAfterRead(
        () => app.t.services.admin.deleteUser(LOCAL_CALL, user.id),
        ['findUserByEmail'],
        () => postAndMail('/auth/v1/recover', { email: user.email }),
      );
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(app.sink.mails.slice(mailedBefore), []);
      assert.equal(await app.t.services.store.findOneTimeToken(user.id, 'recovery', new Date()), null);
    });

    it('a recovery link followed: 403 user_banned, no session opened', async () => {
      const user = await account();
      const link = await app.t.services.admin.generateLink(LOCAL_CALL, {
        type: 'recovery',
        email: user.email,
        redirectTo: null,
      });
      // Its last answer from the store before the session: the user with its last_sign_in_at set.
      const res = await banAfterRead(user.id, ['updateUser'], () =>
        post('/auth/v1/verify', { type: 'recovery', token_hash: link.token }),
      );
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().error_code, 'user_banned');
      assert.equal(await liveSessions(app.t.services.store, user.id), 0);
      // Refused for a ban, the link is not spent (stored again, not refused for the ban it then met),
      // as GoTrue's /verify rolls back: it works once the ban is lifted.
      assert.notEqual(await app.t.services.store.findOneTimeToken(user.id, 'recovery', new Date()), null);
    });

    it('a refresh: a ban written into the store after findRefreshToken rotates nothing, the token unspent', async () => {
      const user = await account();
      const signIn = await post('/auth/v1/token?grant_type=password', {
        email: user.email,
        password: PASSWORD,
      });
      assert.equal(signIn.statusCode, 200, signIn.body);
      const refreshToken = signIn.json<{ refresh_token: string }>().refresh_token;
      const refresh = () => post('/auth/v1/token?grant_type=refresh_token', { refresh_token: refreshToken });
      const { store } = app.t.services;
      // Written straight into the store, as an operator's UPDATE: no session is ended with it.
      const ban = (bannedUntil: Date | null) => store.updateUser(user.id, { bannedUntil });
      // PostgreSQL's find-then-rotate path (a session from before migration 28 takes it): without the
      // one statement, which judges the ban itself.
      const shadowed = store as { refreshInOneStatement?: unknown };
      shadowed.refreshInOneStatement = undefined;
      try {
        const refused = await commitAfterRead(
          () => ban(new Date(Date.now() + 86_400_000)),
          ['findRefreshToken'],
          refresh,
        );
        assert.equal(refused.statusCode, 400, refused.body);
        assert.equal(refused.json().error_code, 'user_banned');
      } finally {
        delete shadowed.refreshInOneStatement;
      }
      await ban(null);
      // Not spent: the same token refreshes (it was rotated before, a replay once the ban was lifted).
      const lifted = await refresh();
      assert.equal(lifted.statusCode, 200, lifted.body);
    });
  });
}

/**
 * PostgreSQL: the ban's own transaction holds the user's row while the flow reads (not banned yet,
 * its snapshot says) and reaches its write, which waits for the row; the ban commits, and the write,
 * reading the row it waited for again, refuses. Checked on the row the write locks, not on a read
 * before it (a check there passed, and the write then went through).
 */
describe(
  'a ban committing while the write waits for the user’s row (PostgreSQL)',
  { skip: realServerOnly() ?? false, timeout: 60_000 },
  () => {
    const app = appOnStore('postgres', {
      passwords: FAST_HASHING,
      signup: { confirmEmail: false },
      dialects: { gotrue: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
    });

    /** Runs `flow` while an uncommitted ban holds the user's row; commits the ban once the flow waits for it. */
    const banCommittedWhileWaiting = (userId: string, flow: () => Promise<LightMyRequestResponse>) =>
      withDba(app.store.config.store!.url, (holder) =>
        withDba(app.store.config.store!.url, async (observer) => {
          await holder.query('BEGIN');
          await holder.query(`UPDATE auth.users SET banned_until = '2999-01-01' WHERE id = $1`, [userId]);
          const answer = flow();
          await lockWaiters(observer, 1);
          await holder.query('COMMIT');
          return answer;
        }),
      );

    it('a password sign-in and a password change wait for the ban, then refuse: no session, the password kept', async () => {
      const user = await app.t.services.auth.register(LOCAL_CALL, {
        username: 'waiter',
        email: 'waiter@corp.test',
        password: PASSWORD,
        emailConfirmed: true,
      });
      const post = (url: string, payload: Record<string, unknown>) =>
        app.t.app.inject({ method: 'POST', url, payload });
      const signIn = await banCommittedWhileWaiting(user.id, () =>
        post('/auth/v1/token?grant_type=password', { email: 'waiter@corp.test', password: PASSWORD }),
      );
      assert.equal(signIn.statusCode, 400, signIn.body);
      assert.equal(signIn.json().error_code, 'user_banned');
      assert.deepEqual(await app.t.services.store.listSessions(user.id), []);

      await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { banDuration: 'none' });
      const hash = await app.t.services.store.getPasswordHash(user.id);
      const change = await banCommittedWhileWaiting(user.id, () =>
        post('/pg/change_password', passwordChange('waiter')),
      );
      assert.equal(change.statusCode, 400, change.body);
      assert.match(change.body, /banned/iu);
      assert.equal(await app.t.services.store.getPasswordHash(user.id), hash);
    });
  },
);
