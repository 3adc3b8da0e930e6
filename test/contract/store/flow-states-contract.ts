/**
 * The behaviour every flow-state store must have (src/core/ports/flow-states.ts), as one suite each
 * backend's runner calls: flow-states-file.test.ts and flow-states-postgres.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { FlowStateStore, NewFlowState, OAuthFlow } from '../../../src/core/ports/flow-states.js';

export interface FlowStateSubject {
  flowStates: FlowStateStore;
  /** Closes the backend and opens it again on the same storage (what a restart does). */
  reopen(): Promise<FlowStateStore>;
  cleanup(): Promise<void>;
}

const NOW = new Date('2026-06-01T12:00:00.000Z');
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);
const LONG_AGO = at(-3600);

function newFlow(overrides: Partial<NewFlowState> = {}): NewFlowState {
  return {
    id: randomUUID(),
    userId: randomUUID(),
    codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    codeChallengeMethod: 's256',
    authenticationMethod: 'magiclink',
    providerType: 'email',
    createdAt: NOW,
    ...overrides,
  };
}

function newOAuthFlow(overrides: Partial<OAuthFlow> = {}): OAuthFlow {
  return {
    id: randomUUID(),
    providerType: 'keycloak',
    codeChallenge: null,
    codeChallengeMethod: null,
    referrer: 'https://app.example.com/welcome',
    linkingTargetId: null,
    linkingSessionId: null,
    createdAt: NOW,
    ...overrides,
  };
}

export function runFlowStateContract(
  name: string,
  open: () => Promise<FlowStateSubject>,
  options: { concurrencySkipReason?: string } = {},
): void {
  describe(`Flow-state contract: ${name}`, () => {
    let subject: FlowStateSubject;
    let flows: FlowStateStore;
    beforeEach(async () => {
      subject = await open();
      flows = subject.flowStates;
    });
    afterEach(() => subject.cleanup());

    it('a flow has no code until its link issues one; the code finds it, and consuming it works once', async () => {
      const flow = newFlow({ codeChallengeMethod: 'plain', codeChallenge: 'v'.repeat(43) });
      await flows.createFlowState(flow);
      assert.equal(await flows.findFlowStateByAuthCode('code-hash'), null);
      const issued = await flows.issueFlowAuthCode(flow.id, flow.userId, 'code-hash', at(10), LONG_AGO);
      assert.deepEqual(issued, {
        ...flow,
        authCodeHash: 'code-hash',
        authCodeIssuedAt: at(10),
        providerAccessToken: null,
        providerRefreshToken: null,
        pendingLink: null,
      });
      assert.deepEqual(await flows.findFlowStateByAuthCode('code-hash'), issued);
      assert.equal(await flows.consumeFlowState(flow.id, 'other-hash'), false, 'not with another code');
      // Under a ban condition, a flow whose user the store does not hold (no ban to see) is spent.
      assert.equal(await flows.consumeFlowState(flow.id, 'code-hash', { unlessBannedAt: at(10) }), true);
      assert.equal(await flows.consumeFlowState(flow.id, 'code-hash'), false, 'once');
      assert.equal(await flows.findFlowStateByAuthCode('code-hash'), null);
    });

    it('issues the code to the flow named, only while it is that user’s and newer than the cutoff', async () => {
      const userId = randomUUID();
      const older = newFlow({ userId, createdAt: at(-100) });
      const named = newFlow({ userId, createdAt: at(-10) });
      const newer = newFlow({ userId, createdAt: at(-1) });
      for (const flow of [older, named, newer]) await flows.createFlowState(flow);
      const issued = await flows.issueFlowAuthCode(named.id, userId, 'h1', NOW, at(-50));
      assert.equal(issued?.id, named.id, 'the named flow, not the newest');
      assert.equal((await flows.findFlowStateByAuthCode('h1'))?.id, named.id);
      assert.equal(await flows.issueFlowAuthCode(older.id, userId, 'h2', NOW, at(-50)), null, 'too old');
      assert.equal(
        await flows.issueFlowAuthCode(newer.id, randomUUID(), 'h3', NOW, LONG_AGO),
        null,
        'not theirs',
      );
      assert.equal(await flows.issueFlowAuthCode(randomUUID(), userId, 'h4', NOW, LONG_AGO), null, 'unknown');
      assert.equal(await flows.issueFlowAuthCode('not-a-uuid', userId, 'h5', NOW, LONG_AGO), null);
      for (const hash of ['h2', 'h3', 'h4', 'h5'])
        assert.equal(await flows.findFlowStateByAuthCode(hash), null);
    });

    it('a second issue replaces the code: the first stops working', async () => {
      const flow = newFlow();
      await flows.createFlowState(flow);
      await flows.issueFlowAuthCode(flow.id, flow.userId, 'first', NOW, LONG_AGO);
      await flows.issueFlowAuthCode(flow.id, flow.userId, 'second', at(5), LONG_AGO);
      assert.equal(await flows.findFlowStateByAuthCode('first'), null);
      assert.equal(await flows.consumeFlowState(flow.id, 'first'), false);
      assert.equal(
        (await flows.findFlowStateByAuthCode('second'))?.authCodeIssuedAt?.getTime(),
        at(5).getTime(),
      );
    });

    it('prunes flows whose code was issued before one cutoff and code-less ones created before the other', async () => {
      const issuedLongAgo = newFlow({ createdAt: at(-1000) });
      const issuedLately = newFlow({ createdAt: at(-1000) });
      const waitingLong = newFlow({ createdAt: at(-4000) });
      const waiting = newFlow({ createdAt: at(-100) });
      for (const flow of [issuedLongAgo, issuedLately, waitingLong, waiting])
        await flows.createFlowState(flow);
      await flows.issueFlowAuthCode(issuedLongAgo.id, issuedLongAgo.userId, 'a', at(-400), at(-2000));
      await flows.issueFlowAuthCode(issuedLately.id, issuedLately.userId, 'b', at(-100), at(-2000));
      const pruned = await flows.pruneFlowStates({ issuedBefore: at(-300), createdBefore: at(-3600) });
      assert.equal(pruned, 2);
      assert.equal(await flows.findFlowStateByAuthCode('a'), null);
      assert.ok(await flows.findFlowStateByAuthCode('b'));
      assert.equal(
        await flows.issueFlowAuthCode(waitingLong.id, waitingLong.userId, 'c', NOW, at(-5000)),
        null,
      );
      assert.ok(await flows.issueFlowAuthCode(waiting.id, waiting.userId, 'd', NOW, at(-5000)));
      assert.equal(await flows.pruneFlowStates({ issuedBefore: at(-300), createdBefore: at(-3600) }), 0);
    });

    it("ends every flow of a user but the one kept, issued or not, pending link included; others' stay", async () => {
      const userId = randomUUID();
      const kept = newFlow({ userId });
      const issued = newFlow({ userId, authenticationMethod: 'oauth', providerType: 'keycloak' });
      const waiting = newFlow({ userId });
      const linking = newFlow({ userId, authCodeHash: 'linking', authCodeIssuedAt: NOW, pendingLink: '{}' });
      const another = newFlow();
      for (const flow of [kept, issued, waiting, linking, another]) await flows.createFlowState(flow);
      await flows.issueFlowAuthCode(kept.id, userId, 'kept', NOW, LONG_AGO);
      await flows.issueFlowAuthCode(issued.id, userId, 'issued', NOW, LONG_AGO);
      await flows.issueFlowAuthCode(another.id, another.userId, 'another', NOW, LONG_AGO);
      assert.equal(await flows.endFlowStatesOf(userId, kept.id), 3);
      flows = await subject.reopen();
      assert.equal(await flows.findFlowStateByAuthCode('issued'), null);
      assert.equal(await flows.findFlowStateByAuthCode('linking'), null);
      assert.equal(await flows.issueFlowAuthCode(waiting.id, userId, 'late', NOW, LONG_AGO), null);
      assert.equal((await flows.findFlowStateByAuthCode('kept'))?.id, kept.id);
      assert.equal((await flows.findFlowStateByAuthCode('another'))?.id, another.id);
      assert.equal(await flows.endFlowStatesOf(userId, null), 1);
      assert.equal(await flows.findFlowStateByAuthCode('kept'), null);
      assert.equal(await flows.endFlowStatesOf(userId, null), 0);
      assert.equal(await flows.endFlowStatesOf('not-a-uuid', 'not-a-uuid'), 0);
      assert.equal(await flows.consumeFlowState(another.id, 'another'), true);
    });

    it('keeps a flow and its code across a restart', async () => {
      const flow = newFlow();
      await flows.createFlowState(flow);
      await flows.issueFlowAuthCode(flow.id, flow.userId, 'kept', NOW, LONG_AGO);
      flows = await subject.reopen();
      assert.equal((await flows.findFlowStateByAuthCode('kept'))?.id, flow.id);
      assert.equal(await flows.consumeFlowState(flow.id, 'kept'), true);
    });

    it(
      'of 20 exchanges racing for one code, exactly one consumes the flow',
      { skip: options.concurrencySkipReason },
      async () => {
        const flow = newFlow();
        await flows.createFlowState(flow);
        await flows.issueFlowAuthCode(flow.id, flow.userId, 'raced', NOW, LONG_AGO);
        const results = await Promise.all(
          Array.from({ length: 20 }, () => flows.consumeFlowState(flow.id, 'raced')),
        );
        assert.equal(results.filter(Boolean).length, 1);
      },
    );
    it('an OAuth flow is taken once, as it was created; an unknown or malformed state takes nothing', async () => {
      const implicit = newOAuthFlow();
      const pkce = newOAuthFlow({
        codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        codeChallengeMethod: 's256',
        referrer: null,
        linkingTargetId: randomUUID(),
        linkingSessionId: randomUUID(),
      });
      await flows.createOAuthFlow(implicit);
      await flows.createOAuthFlow(pkce);
      assert.deepEqual(await flows.takeOAuthFlow(implicit.id), implicit);
      assert.equal(await flows.takeOAuthFlow(implicit.id), null, 'once');
      assert.equal(await flows.takeOAuthFlow(randomUUID()), null);
      assert.equal(await flows.takeOAuthFlow('not-a-uuid'), null);
      assert.equal(await flows.takeOAuthFlow('__proto__'), null);
      flows = await subject.reopen();
      assert.deepEqual(await flows.takeOAuthFlow(pkce.id), pkce, 'kept across a restart');
    });

    it('a flow created with its code issued (an OAuth callback) is found by that code and consumed once', async () => {
      const flow = newFlow({ authenticationMethod: 'oauth', providerType: 'keycloak' });
      await flows.createFlowState({ ...flow, authCodeHash: 'issued', authCodeIssuedAt: at(3) });
      const found = await flows.findFlowStateByAuthCode('issued');
      assert.deepEqual(found, {
        ...flow,
        authCodeHash: 'issued',
        authCodeIssuedAt: at(3),
        providerAccessToken: null,
        providerRefreshToken: null,
        pendingLink: null,
      });
      assert.equal(await flows.takeOAuthFlow(flow.id), null, 'a flow with a user is no pending OAuth flow');
      assert.equal(await flows.consumeFlowState(flow.id, 'issued'), true);
    });

    it('a linkIdentity flow keeps its pending link until consumed, across a restart', async () => {
      const flow = newFlow({ authenticationMethod: 'oauth', providerType: 'keycloak' });
      const link = JSON.stringify({ provider: 'keycloak', subject: 'kc-1' });
      await flows.createFlowState({
        ...flow,
        authCodeHash: 'linking',
        authCodeIssuedAt: at(3),
        pendingLink: link,
      });
      flows = await subject.reopen();
      assert.equal((await flows.findFlowStateByAuthCode('linking'))?.pendingLink, link);
      assert.equal(await flows.consumeFlowState(flow.id, 'linking'), true);
      assert.equal(await flows.findFlowStateByAuthCode('linking'), null);
    });

    it('prunes OAuth flows still waiting for their callback when created before the cutoff', async () => {
      const abandoned = newOAuthFlow({ createdAt: at(-4000) });
      const waiting = newOAuthFlow({ createdAt: at(-100) });
      await flows.createOAuthFlow(abandoned);
      await flows.createOAuthFlow(waiting);
      assert.equal(await flows.pruneFlowStates({ issuedBefore: at(-300), createdBefore: at(-3600) }), 1);
      assert.equal(await flows.takeOAuthFlow(abandoned.id), null);
      assert.deepEqual(await flows.takeOAuthFlow(waiting.id), waiting);
    });

    it(
      'of 20 callbacks racing with one state, exactly one takes the OAuth flow',
      { skip: options.concurrencySkipReason },
      async () => {
        const flow = newOAuthFlow();
        await flows.createOAuthFlow(flow);
        const taken = await Promise.all(Array.from({ length: 20 }, () => flows.takeOAuthFlow(flow.id)));
        assert.equal(taken.filter((result) => result !== null).length, 1);
      },
    );

    it('a spent id_token is spent once, survives a restart, and is pruned once kept until before now', async () => {
      assert.equal(await flows.spendIdToken('token-hash', at(600)), true);
      assert.equal(await flows.spendIdToken('token-hash', at(600)), false, 'a replay');
      assert.equal(await flows.spendIdToken('old-hash', at(-1)), true);
      flows = await subject.reopen();
      assert.equal(await flows.spendIdToken('token-hash', at(600)), false, 'remembered across a restart');
      assert.equal(await flows.pruneSpentIdTokens(NOW), 1);
      assert.equal(await flows.pruneSpentIdTokens(NOW), 0);
      assert.equal(await flows.spendIdToken('token-hash', at(600)), false, 'still kept');
      assert.equal(await flows.spendIdToken('old-hash', at(600)), true, 'forgotten once pruned');
    });

    it(
      'of 20 sign-ins racing with one id_token, exactly one spends it',
      { skip: options.concurrencySkipReason },
      async () => {
        const spent = await Promise.all(
          Array.from({ length: 20 }, () => flows.spendIdToken('raced-hash', at(600))),
        );
        assert.equal(spent.filter(Boolean).length, 1);
      },
    );
  });
}
