/**
 * The behaviour every backend's mail outbox must have (src/core/ports/outbox.ts),
 * and the Store's promise about it: a token and its mails are stored both or
 * neither (src/core/ports/store.ts). Each backend's test file runs it:
 * `runOutboxContract('file', subject)`.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CodeHashInUseError, type OneTimeToken } from '../../../src/core/ports/store.js';
import type { Backend } from '../../../src/stores/index.js';

export interface OutboxSubject {
  /** Opens the backend on its storage; again after a close, on the same storage. */
  open(): Promise<Backend>;
  /** Removes the storage. */
  cleanup(): Promise<void>;
}

const mail = (to: string) => ({ to, subject: `to ${to}`, text: 'x', html: '<p>x</p>' });
const LEASE = 60_000;

export function runOutboxContract(name: string, makeSubject: () => Promise<OutboxSubject>): void {
  describe(`outbox contract: ${name}`, () => {
    let subject: OutboxSubject;
    let backend: Backend;
    beforeEach(async () => {
      subject = await makeSubject();
      backend = await subject.open();
    });
    afterEach(async () => {
      await backend.close();
      await subject.cleanup();
    });

    /** Everything due by a time later than any mail the store queued (their due time is the wall clock). */
    const claimAll = () => backend.outbox.claimDue(Date.now() + 1000, 100, LEASE);

    it('keeps an enqueued mail durably: the backend opened again claims it', async () => {
      const queued = await backend.outbox.enqueue(mail('a@example.com'), 1000);
      assert.equal(queued.attempts, 0);
      assert.equal(queued.nextAttemptAt, 1000);
      await backend.close();
      backend = await subject.open();
      const [claimed] = await backend.outbox.claimDue(2000, 10, LEASE);
      assert.equal(claimed?.id, queued.id);
      assert.deepEqual(claimed.message, mail('a@example.com'));
    });

    it('claims due mails oldest first, up to the limit, each leased until the lease ends', async () => {
      const late = await backend.outbox.enqueue(mail('late@example.com'), 500);
      const early = await backend.outbox.enqueue(mail('early@example.com'), 100);
      await backend.outbox.enqueue(mail('future@example.com'), 1_000_000);
      assert.deepEqual(
        (await backend.outbox.claimDue(1000, 1, LEASE)).map((m) => m.id),
        [early.id],
      );
      assert.deepEqual(
        (await backend.outbox.claimDue(1000, 10, LEASE)).map((m) => m.id),
        [late.id],
      );
      assert.deepEqual(await backend.outbox.claimDue(1000, 10, LEASE), [], 'leased: not claimed again');
      assert.equal(
        await backend.outbox.nextDueAt(),
        1000 + LEASE,
        'a leased mail is due again at its lease end',
      );
      const again = await backend.outbox.claimDue(1000 + LEASE, 10, LEASE);
      assert.deepEqual(again.map((m) => m.id).sort(), [early.id, late.id].sort(), 'back once the lease ends');
    });

    it('claims a mail dated further ahead than aheadMs as due (dated before the clock went back)', async () => {
      await backend.outbox.enqueue(mail('near@example.com'), 1000 + LEASE);
      const far = await backend.outbox.enqueue(mail('far@example.com'), 1000 + 86_400_000);
      assert.deepEqual(await backend.outbox.claimDue(1000, 10, LEASE), [], 'without the bound: neither');
      const claimed = await backend.outbox.claimDue(1000, 10, LEASE, 2 * LEASE);
      assert.deepEqual(
        claimed.map((m) => m.id),
        [far.id],
        'only the one further ahead than the bound',
      );
      assert.equal(claimed[0]!.nextAttemptAt, 1000 + LEASE, 'leased from now as any claim');
    });

    it("renews a lease only while it is still the claimer's (its lease end unchanged)", async () => {
      const queued = await backend.outbox.enqueue(mail('slow@example.com'), 100);
      const [claimed] = await backend.outbox.claimDue(100, 10, LEASE);
      assert.equal(claimed?.nextAttemptAt, 100 + LEASE);
      assert.equal(await backend.outbox.renewLease(queued.id, 100 + LEASE, 5000 + LEASE), true);
      assert.equal(await backend.outbox.nextDueAt(), 5000 + LEASE, 'the lease ends later');
      assert.deepEqual(
        await backend.outbox.claimDue(100 + LEASE, 10, LEASE),
        [],
        'not claimed at the old end',
      );
      assert.equal(
        await backend.outbox.renewLease(queued.id, 100 + LEASE, 9000 + LEASE),
        false,
        'a stale lease end renews nothing',
      );
      // The lease ends unrenewed: another worker claims the mail; the first one's renewal is refused.
      const [taken] = await backend.outbox.claimDue(5000 + LEASE, 10, LEASE);
      assert.equal(taken?.id, queued.id);
      assert.equal(await backend.outbox.renewLease(queued.id, 5000 + LEASE, 9000 + LEASE), false);
      assert.equal(await backend.outbox.nextDueAt(), 5000 + 2 * LEASE, "the other worker's lease is kept");
      await backend.outbox.markSent(queued.id);
      assert.equal(
        await backend.outbox.renewLease(queued.id, 5000 + 2 * LEASE, 9000 + LEASE),
        false,
        'nor a sent mail',
      );
    });

    it('neither claims nor counts as next due the mails it is told to leave (the ones being sent)', async () => {
      const sending = await backend.outbox.enqueue(mail('sending@example.com'), 100);
      const waiting = await backend.outbox.enqueue(mail('waiting@example.com'), 200);
      assert.equal(await backend.outbox.nextDueAt([sending.id]), 200);
      const claimed = await backend.outbox.claimDue(1000, 10, LEASE, Infinity, [sending.id]);
      assert.deepEqual(
        claimed.map((m) => m.id),
        [waiting.id],
      );
      assert.equal(await backend.outbox.nextDueAt([sending.id]), 1000 + LEASE, "the other's lease");
      assert.equal(await backend.outbox.nextDueAt(), 100, 'left unclaimed, still due');
    });

    it('forgets a sent mail, counts a failure, and never claims a dead mail again', async () => {
      const sent = await backend.outbox.enqueue(mail('sent@example.com'), 100);
      const failing = await backend.outbox.enqueue(mail('failing@example.com'), 100);
      await backend.outbox.claimDue(100, 10, LEASE);
      await backend.outbox.markSent(sent.id);
      await backend.outbox.markFailed(failing.id, '451 try later', 5000);
      const [retried] = await backend.outbox.claimDue(5000, 10, LEASE);
      assert.equal(retried?.id, failing.id);
      assert.equal(retried.attempts, 1);
      assert.equal(retried.lastError, '451 try later');
      await backend.outbox.markFailed(failing.id, '550 no such user', null);
      assert.deepEqual(await backend.outbox.claimDue(1e12, 10, LEASE), []);
      assert.equal(await backend.outbox.nextDueAt(), null, 'nothing live waits');
    });

    it('ignores unknown ids (another instance may have handled the mail)', async () => {
      await backend.outbox.markSent('00000000-0000-4000-8000-000000000000');
      await backend.outbox.markFailed('00000000-0000-4000-8000-000000000000', 'x', null);
      assert.equal(await backend.outbox.nextDueAt(), null);
    });

    it('tells its listeners when a mail is queued', async () => {
      let told = 0;
      backend.outbox.onQueued(() => told++);
      await backend.outbox.enqueue(mail('a@example.com'), 100);
      assert.equal(told, 1);
    });

    describe('a token and its mails: both or neither', () => {
      const owner = (username: string) =>
        backend.store.createUser(
          { username, email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
          null,
        );
      const token = (userId: string, hash: string, codeHash: string | null = null): OneTimeToken => {
        const now = new Date();
        return {
          hash,
          codeHash,
          userId,
          purpose: 'recovery',
          createdAt: now,
          expiresAt: new Date(now.getTime() + 3_600_000),
          data: {},
        };
      };

      it('a stored token has its mails queued, and the worker is told', async () => {
        const ada = await owner('ada');
        let told = 0;
        backend.outbox.onQueued(() => told++);
        const written = await backend.store.createOneTimeToken(token(ada.id, 'h-ada'), [
          mail('ada@example.com'),
          mail('ada-too@example.com'),
        ]);
        assert.deepEqual(written, { stored: true });
        assert.ok(told >= 1, 'the worker is woken');
        assert.deepEqual((await claimAll()).map((m) => m.message.to).sort(), [
          'ada-too@example.com',
          'ada@example.com',
        ]);
      });

      it('a throttled token queues no mail', async () => {
        const bob = await owner('bob');
        await backend.store.createOneTimeToken(token(bob.id, 'h-bob-1'), [mail('first@example.com')]);
        const throttled = await backend.store.createOneTimeToken(
          token(bob.id, 'h-bob-2'),
          [mail('second@example.com')],
          { unlessIssuedAfter: new Date(Date.now() - 60_000) },
        );
        assert.deepEqual(throttled, { stored: false });
        assert.deepEqual(
          (await claimAll()).map((m) => m.message.to),
          ['first@example.com'],
        );
        await backend.close();
        backend = await subject.open();
        assert.deepEqual(await claimAll(), [], 'nor does it come back after a restart');
      });

      it('a refused token (its code names another token) queues no mail', async () => {
        const [carol, dan] = [await owner('carol'), await owner('dan')];
        await backend.store.createOneTimeToken(token(carol.id, 'h-carol', 'same-code'), [
          mail('carol@example.com'),
        ]);
        await assert.rejects(
          backend.store.createOneTimeToken(token(dan.id, 'h-dan', 'same-code'), [mail('dan@example.com')]),
          CodeHashInUseError,
        );
        assert.equal(await backend.store.findOneTimeToken(dan.id, 'recovery', new Date()), null);
        assert.deepEqual(
          (await claimAll()).map((m) => m.message.to),
          ['carol@example.com'],
        );
      });

      it("a sign-up's welcome mail is queued with the account; a refused sign-up mails nobody", async () => {
        const account = { email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} };
        await backend.store.createUser({ username: 'erin', ...account }, null, {
          mails: [mail('erin@example.com')],
        });
        await assert.rejects(
          backend.store.createUser({ username: 'erin', ...account }, null, {
            mails: [mail('again@example.com')],
          }),
          { code: 'user_already_exists' },
        );
        assert.deepEqual(
          (await claimAll()).map((m) => m.message.to),
          ['erin@example.com'],
        );
      });
    });
  });
}
