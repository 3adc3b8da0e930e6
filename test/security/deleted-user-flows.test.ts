import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { hashSecret } from '../../src/core/secrets.js';
import type { Backend } from '../../src/stores/backend.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { openFileBackendIn } from '../support/file-backend.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { challengeOf, exchangePkceCode, newVerifier } from '../support/pkce.js';

/**
 * File store: a json-data-server user's id is its user name, so a user deleted (admin API,
 * `restauth users delete`) and a name registered again by someone else has the same id. Whatever the
 * store keeps by that id must go with the user, or the next holder of the name inherits it:
 * - its PKCE flows: a code issued to the former holder (a magic link it followed, an OAuth sign-in)
 *   exchanged, after the deletion, for a session of the new holder (FlowStates.spend finds the user
 *   by id);
 * - its OAuth sign-ins waiting to link an identity to it (`linkingTargetId`);
 * - the guess limit's known clients: a client that signed the former holder in stayed exempt from
 *   the new account's budget of wrong passwords for 30 days.
 */
const GUESSES = 3;
const FORMER = { username: 'alice', email: 'mallory@evil.test', password: 'mallory passphrase 1' };
const NEXT = { username: 'alice', email: 'alice@corp.test', password: 'alice passphrase 22' };

describe("a deleted user's PKCE code, its name registered again (file store)", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        signup: { confirmEmail: false },
        dialects: { gotrue: {}, jsonDataServer: {} },
      },
    });
  });
  after(() => t?.close());

  const register = async (who: typeof FORMER) => {
    const answer = await t.app.inject({ method: 'POST', url: '/auth/register', payload: who });
    assert.equal(answer.statusCode, 200, answer.body);
  };

  it("is refused: it opens no session of the name's new holder", async () => {
    await register(FORMER);
    const former = (await t.services.store.findUserByUsername('alice'))!;
    assert.equal(former.id, 'alice');
    // The former holder's PKCE magic link, followed: the code is in its hands. (Service calls stand
    // for the mailed link's button, as test/security/pkce-flow-ended-by-password-change does.)
    const verifier = newVerifier();
    const challenge = { challenge: challengeOf(verifier).code_challenge, method: 's256' } as const;
    const flowId = await t.services.pkce.start(former.id, 'magiclink', challenge);
    const code = await t.services.pkce.issueCode(former, flowId);

    // An administrator deletes the account; someone else registers the freed name.
    await t.services.admin.deleteUser(LOCAL_CALL, former.id);
    await register(NEXT);

    const exchanged = await exchangePkceCode((o) => t.app.inject(o), code, verifier);
    assert.equal(exchanged.statusCode, 404, `the former holder's code answered: ${exchanged.body}`);
  });
});

describe("a deleted user's flows go with it, also across a restart (file store)", () => {
  let dir: string;
  let backend: Backend;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-deleted-user-flows-'));
    backend = await openFileBackendIn(dir);
  });
  after(async () => {
    await backend?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const profile = { emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} };

  it('its PKCE flows and the OAuth sign-ins linking to it are removed; a namesake keeps its own', async () => {
    const now = new Date();
    await backend.store.createUser({ ...profile, username: 'alice', email: null }, null);
    await backend.store.createUser({ ...profile, username: 'bob', email: null }, null);
    const flow = (id: string, userId: string) =>
      backend.flowStates.createFlowState({
        id,
        userId,
        codeChallenge: 'challenge',
        codeChallengeMethod: 's256',
        authenticationMethod: 'magiclink',
        providerType: 'email',
        createdAt: now,
        authCodeHash: hashSecret(`code of ${id}`),
        authCodeIssuedAt: now,
      });
    const linking = (id: string, userId: string) =>
      backend.flowStates.createOAuthFlow({
        id,
        providerType: 'github',
        codeChallenge: null,
        codeChallengeMethod: null,
        referrer: null,
        linkingTargetId: userId,
        linkingSessionId: null,
        createdAt: now,
      });
    await flow('6b1f8a52-0000-4000-8000-000000000001', 'alice');
    await flow('6b1f8a52-0000-4000-8000-000000000002', 'bob');
    await linking('state-of-alice', 'alice');
    await linking('state-of-bob', 'bob');

    assert.equal(await backend.store.deleteUser('alice'), true);
    // Journaled with the removal: a restart replays it, the flows stay gone.
    await backend.close();
    backend = await openFileBackendIn(dir);

    const found = (id: string) => backend.flowStates.findFlowStateByAuthCode(hashSecret(`code of ${id}`));
    assert.equal(await found('6b1f8a52-0000-4000-8000-000000000001'), null, "alice's PKCE flow");
    assert.equal(await backend.flowStates.takeOAuthFlow('state-of-alice'), null, "alice's linking flow");
    assert.equal((await found('6b1f8a52-0000-4000-8000-000000000002'))?.userId, 'bob', "bob's PKCE flow");
    assert.equal((await backend.flowStates.takeOAuthFlow('state-of-bob'))?.linkingTargetId, 'bob');
  });
});

describe("the guess limit's known clients of a deleted user, its name registered again (file store)", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        signup: { confirmEmail: false },
        dialects: { gotrue: {}, jsonDataServer: {} },
        rateLimits: { passwordGuesses: { max: GUESSES, window: 900 } },
      },
      env: { RESTAUTH_RATE_LIMITS: '' },
      // The guess windows end only when the test advances the clock past them: it does not.
      clockStoppedAt: Date.now(),
    });
  });
  after(() => t?.close());

  let clients = 0;
  const nextClient = () => `2001:db8:78:${(++clients).toString(16)}::1`;
  const post = (url: string, payload: object, remoteAddress: string) =>
    t.app.inject({ method: 'POST', url, payload, remoteAddress });
  const signIn = async (email: string, password: string, from: string) =>
    (await post('/auth/v1/token?grant_type=password', { email, password }, from)).statusCode;

  it("exempt no client that signed the former holder in from the new account's budget", async () => {
    const formerClient = nextClient();
    assert.equal((await post('/auth/register', FORMER, formerClient)).statusCode, 200);
    assert.equal(await signIn(FORMER.email, FORMER.password, formerClient), 200, 'the former holder');
    await t.services.admin.deleteUser(LOCAL_CALL, 'alice');
    t.advance(60_000);
    assert.equal((await post('/auth/register', NEXT, nextClient())).statusCode, 200);

    // The former holder's client spends the new account's wrong passwords ...
    for (let i = 0; i < GUESSES; i++)
      assert.equal(await signIn(NEXT.email, `guess ${i}`, formerClient), 400, `guess ${i}`);
    // ... and is refused as a client never seen is (exempt, it could go on guessing for 30 days).
    const stranger = await signIn(NEXT.email, NEXT.password, nextClient());
    assert.equal(stranger, 429, 'a client never seen, past the budget');
    assert.equal(
      await signIn(NEXT.email, NEXT.password, formerClient),
      stranger,
      "the former holder's client",
    );
  });
});
