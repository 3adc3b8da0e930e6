import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { nextMail, secretsOf } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import {
  challengeOf,
  exchangePkceCode,
  newVerifier,
  pressLinkButton,
  type PkceChallenge,
} from '../support/pkce.js';

/**
 * A PKCE mail's link ends the flow of the request that mailed it. GoTrue gives the code to the
 * user's newest flow of the link's type, and anyone starts one: ask a mail for the owner's address
 * with a challenge of your own. Within the resend interval nothing is mailed, but the flow is the
 * newest, so the owner's click issued its code to the asker's flow: the owner's exchange failed
 * (bad_code_verifier) and the code, in the owner's address bar, signed in whoever holds the asker's
 * verifier. Each route that mails a PKCE link, over HTTP on both stores, the default resend interval.
 */
const APP = 'https://app.test';
const PREFIX = '/auth/v1';
const PASSWORD = 'a long passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a mailed PKCE link ends its own request's flow (${storeKind} store)`, { timeout: 60_000 }, () => {
    const app = mailingAppOnStore(storeKind, { siteUrl: APP });
    let clients = 0;

    /** Each request from a client address of its own: the suite tests the flows, not the rate limits. */
    async function request(options: InjectOptions) {
      const answer = await app.t.app.inject({
        ...options,
        remoteAddress: `10.8.${Math.floor(clients / 250)}.${clients++ % 250}`,
      });
      return answer;
    }
    const redirected = (path: string) => `${PREFIX}${path}?redirect_to=${encodeURIComponent(`${APP}/cb`)}`;
    const post = async (path: string, payload: Record<string, unknown>, token?: string) => {
      const answer = await request({
        method: path.startsWith('/user') ? 'PUT' : 'POST',
        url: redirected(path),
        payload,
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });
      assert.equal(answer.statusCode, 200, `${path}: ${answer.body}`);
    };
    /** Presses the hosted page's button of a mailed link; the answer's redirect (or page). */
    const press = (link: string) => pressLinkButton(request, link);
    const exchange = (authCode: string, verifier: string) => exchangePkceCode(request, authCode, verifier);

    interface Case {
      name: string;
      /** The owner's account before its request, if it has one: its access token. */
      setUp?(email: string): Promise<string>;
      /** The owner's request, with its challenge: the addresses whose mails' links it presses, in order. */
      ask(email: string, challenge: PkceChallenge, token: string): Promise<string[]>;
      /** The stranger's request for the owner's address with its own challenge (throttled). */
      hijack(email: string, challenge: PkceChallenge): Promise<void>;
    }

    const confirmed = async (email: string) =>
      (await confirmedGotrueAccount(app.t, app.sink, email, PASSWORD)).access_token;
    const cases: Case[] = [
      {
        name: 'a magic link (POST /otp)',
        setUp: confirmed,
        async ask(email, challenge) {
          await post('/otp', { email, create_user: false, ...challenge });
          return [email];
        },
        hijack: (email, challenge) => post('/otp', { email, create_user: false, ...challenge }),
      },
      {
        name: 'a recovery link (POST /recover)',
        setUp: confirmed,
        async ask(email, challenge) {
          await post('/recover', { email, ...challenge });
          return [email];
        },
        hijack: (email, challenge) => post('/recover', { email, ...challenge }),
      },
      {
        name: 'a sign-up’s confirmation (POST /signup; the stranger resends it)',
        async ask(email, challenge) {
          await post('/signup', { email, password: PASSWORD, ...challenge });
          return [email];
        },
        hijack: (email, challenge) => post('/resend', { email, type: 'signup', ...challenge }),
      },
      {
        name: 'an email change (PUT /user; the stranger resends it)',
        setUp: confirmed,
        async ask(email, challenge, token) {
          const moved = email.replace('@', '.moved@');
          await post('/user', { email: moved, ...challenge }, token);
          return [email, moved];
        },
        hijack: (email, challenge) => post('/resend', { email, type: 'email_change', ...challenge }),
      },
    ];

    for (const [index, { name, setUp, ask, hijack }] of cases.entries()) {
      it(`${name}: the owner's click gives the code to the owner's flow, not the stranger's`, async () => {
        const email = `owner${index}-${storeKind}@acme.test`;
        const owners = newVerifier();
        const strangers = newVerifier();
        const token = (await setUp?.(email)) ?? '';
        await app.t.services.idle();
        const since = app.sink.mails.length;
        const recipients = await ask(email, challengeOf(owners), token);
        const links = [];
        for (const to of recipients) links.push(secretsOf(await nextMail(app.sink, to, since)).link);

        await app.t.services.idle();
        const beforeHijack = app.sink.mails.length;
        await hijack(email, challengeOf(strangers));
        await app.t.services.idle();
        assert.deepEqual(
          app.sink.mails.slice(beforeHijack),
          [],
          'throttled: the stranger’s request mailed nothing',
        );

        let pressed;
        for (const link of links) pressed = await press(link);
        assert.equal(pressed?.statusCode, 303, pressed?.body);
        const code = new URL(String(pressed?.headers.location)).searchParams.get('code');
        assert.ok(code, String(pressed?.headers.location));

        const stranger = await exchange(code, strangers);
        assert.equal(stranger.statusCode, 400, stranger.body);
        assert.equal(stranger.json<{ error_code: string }>().error_code, 'bad_code_verifier');
        const owner = await exchange(code, owners);
        assert.equal(owner.statusCode, 200, owner.body);
        assert.equal(owner.json<{ user: { id: string } }>().user.id, (await userOf(email, recipients)).id);
      });
    }

    /** The account the case's mails went to (an email change's has moved to its new address). */
    async function userOf(email: string, recipients: string[]) {
      const user = await app.t.services.store.findUserByEmail(recipients.at(-1)!);
      return user ?? (await app.t.services.store.findUserByEmail(email))!;
    }
  });
}
