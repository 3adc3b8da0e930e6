import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import pg from 'pg';
import { nextMail, secretsOf } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import {
  challengeOf,
  exchangePkceCode,
  newVerifier,
  pressedLinkTarget,
  pressLinkButton,
} from '../support/pkce.js';
import { realServerOnly } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * Attacks on the PKCE exchange, over HTTP on both stores: a tampered verifier, a replayed code,
 * the challenge passed off as the verifier (a method downgrade), a code of another flow, a code
 * used after its lifetime (the injected clock moved), racing exchanges, and malformed challenges.
 * Each answer is GoTrue's code and message.
 */
const APP = 'https://app.test';
const PREFIX = '/auth/v1';
const s256 = (verifier: string) => challengeOf(verifier).code_challenge;

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`PKCE attacks (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, { siteUrl: APP, oneTimeTokens: { resendInterval: 0 } });
    let clients = 0;

    /** Each request from a client address of its own: the suite tests PKCE, not the rate limits. */
    function request(options: InjectOptions) {
      return app.t.app.inject({
        ...options,
        remoteAddress: `10.9.${Math.floor(clients / 250)}.${clients++ % 250}`,
      });
    }

    const exchange = (authCode: string, verifier: string) => exchangePkceCode(request, authCode, verifier);

    /** A confirmed user's magic link requested with this challenge, opened: the code its redirect carries. */
    async function codeFor(
      email: string,
      challenge: { code_challenge: string; code_challenge_method: string },
    ) {
      if (!(await app.t.services.store.findUserByEmail(email))) {
        await app.t.services.admin.createUser(LOCAL_CALL, {
          email,
          password: 'a long passphrase',
          emailConfirm: true,
        });
      }
      const since = app.sink.mails.length;
      const asked = await request({
        method: 'POST',
        url: `${PREFIX}/otp?redirect_to=${encodeURIComponent(`${APP}/cb`)}`,
        payload: { email, create_user: false, ...challenge },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const landed = await pressedLinkTarget(request, secretsOf(await nextMail(app.sink, email, since)).link);
      const code = landed.searchParams.get('code');
      assert.ok(code);
      return code;
    }

    function assertGotrueError(
      answer: Awaited<ReturnType<typeof exchange>>,
      status: number,
      errorCode: string,
      msg: string,
    ) {
      assert.equal(answer.statusCode, status, answer.body);
      assert.deepEqual(answer.json(), { code: status, error_code: errorCode, msg });
    }

    it('a tampered verifier is refused (bad_code_verifier) and spends nothing; a replayed code is flow_state_not_found', async () => {
      const verifier = newVerifier();
      const code = await codeFor('tamper@acme.test', challengeOf(verifier));
      const tampered = verifier.slice(0, -1) + (verifier.endsWith('A') ? 'B' : 'A');
      assertGotrueError(
        await exchange(code, tampered),
        400,
        'bad_code_verifier',
        'code challenge does not match previously saved code verifier',
      );
      const ok = await exchange(code, verifier);
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(ok.json<{ user: { email: string } }>().user.email, 'tamper@acme.test');
      assertGotrueError(
        await exchange(code, verifier),
        404,
        'flow_state_not_found',
        'invalid flow state, no valid flow state found',
      );
      assertGotrueError(
        await exchange('00000000-0000-4000-8000-000000000000', verifier),
        404,
        'flow_state_not_found',
        'invalid flow state, no valid flow state found',
      );
    });

    it('an S256 flow refuses its challenge passed off as the verifier (the plain method); plain flows work with plain', async () => {
      const verifier = newVerifier();
      const code = await codeFor('downgrade@acme.test', challengeOf(verifier));
      assert.equal(
        (await exchange(code, s256(verifier))).json<{ error_code: string }>().error_code,
        'bad_code_verifier',
      );
      assert.equal((await exchange(code, verifier)).statusCode, 200);

      const plain = newVerifier();
      const plainCode = await codeFor('plain@acme.test', {
        code_challenge: plain,
        code_challenge_method: 'plain',
      });
      assert.equal((await exchange(plainCode, s256(plain))).statusCode, 400);
      assert.equal((await exchange(plainCode, plain)).statusCode, 200);
    });

    it("a code of one flow with another flow's verifier is refused", async () => {
      const mine = newVerifier();
      const theirs = newVerifier();
      const myCode = await codeFor('mine@acme.test', challengeOf(mine));
      const theirCode = await codeFor('theirs@acme.test', challengeOf(theirs));
      assert.equal(
        (await exchange(myCode, theirs)).json<{ error_code: string }>().error_code,
        'bad_code_verifier',
      );
      assert.equal(
        (await exchange(theirCode, mine)).json<{ error_code: string }>().error_code,
        'bad_code_verifier',
      );
      const signedIn = await exchange(theirCode, theirs);
      assert.equal(signedIn.json<{ user: { email: string } }>().user.email, 'theirs@acme.test');
    });

    it('a code used after its 300 s is flow_state_expired; the lifetime counts from the link, not the request', async () => {
      const verifier = newVerifier();
      const late = await codeFor('late@acme.test', challengeOf(verifier));
      app.t.advance(301_000);
      assertGotrueError(
        await exchange(late, verifier),
        422,
        'flow_state_expired',
        'invalid flow state, flow state has expired',
      );

      // A link opened ten minutes after its request still yields a working code.
      const since = app.sink.mails.length;
      const second = newVerifier();
      await request({
        method: 'POST',
        url: `${PREFIX}/otp?redirect_to=${encodeURIComponent(`${APP}/cb`)}`,
        payload: { email: 'late@acme.test', create_user: false, ...challengeOf(second) },
      });
      const { link } = secretsOf(await nextMail(app.sink, 'late@acme.test', since));
      app.t.advance(600_000);
      const pressed = await pressLinkButton(request, link);
      const code = new URL(String(pressed.headers.location)).searchParams.get('code')!;
      assert.equal((await exchange(code, second)).statusCode, 200);
    });

    it("an implicit link passed off as a PKCE one (pkce_ added) finds no flow: GoTrue's error redirect, no code", async () => {
      await app.t.services.admin.createUser(LOCAL_CALL, {
        email: 'implicit@acme.test',
        password: 'a long passphrase',
        emailConfirm: true,
      });
      const since = app.sink.mails.length;
      await request({
        method: 'POST',
        url: `${PREFIX}/otp?redirect_to=${encodeURIComponent(`${APP}/cb`)}`,
        payload: { email: 'implicit@acme.test', create_user: false },
      });
      const link = new URL(secretsOf(await nextMail(app.sink, 'implicit@acme.test', since)).link);
      assert.doesNotMatch(link.search, /pkce_/u, 'an implicit request gets an implicit link');
      link.searchParams.set('token', `pkce_${link.searchParams.get('token')}`);
      const landed = await pressedLinkTarget(request, link.href);
      assert.equal(landed.origin + landed.pathname, `${APP}/cb`);
      assert.equal(landed.searchParams.get('code'), null);
      assert.equal(landed.searchParams.get('error_code'), 'flow_state_not_found');
      assert.equal(new URLSearchParams(landed.hash.slice(1)).get('error_code'), 'flow_state_not_found');
      assert.doesNotMatch(landed.hash, /access_token/u);
    });

    it(
      'a code of a user moved to another GoTrue instance is refused unspent: moved back, it exchanges',
      { skip: storeKind === 'file' ? 'the file store has one instance' : false },
      async () => {
        const verifier = newVerifier();
        const code = await codeFor('moved@acme.test', challengeOf(verifier));
        const { id } = (await app.t.services.store.findUserByEmail('moved@acme.test'))!;
        const db = new pg.Client({ connectionString: app.store.config.store!.url });
        await db.connect();
        try {
          const moveTo = (instance: string) =>
            db.query('UPDATE auth.users SET instance_id = $2 WHERE id = $1', [id, instance]);
          await moveTo(randomUUID());
          assertGotrueError(
            await exchange(code, verifier),
            404,
            'flow_state_not_found',
            'invalid flow state, no valid flow state found',
          );
          await moveTo('00000000-0000-0000-0000-000000000000');
        } finally {
          await db.end();
        }
        const ok = await exchange(code, verifier);
        assert.equal(ok.statusCode, 200, ok.body);
      },
    );

    it(
      'of 10 exchanges racing with the right verifier, one gets the session and the others flow_state_not_found',
      { skip: storeKind === 'postgres' ? (realServerOnly() ?? false) : false },
      async () => {
        const verifier = newVerifier();
        const code = await codeFor('race@acme.test', challengeOf(verifier));
        const answers = await Promise.all(Array.from({ length: 10 }, () => exchange(code, verifier)));
        const statuses = answers.map((answer) => answer.statusCode).sort();
        assert.deepEqual(statuses, [200, ...Array<number>(9).fill(404)]);
      },
    );

    it('malformed challenges are a 400 validation_failed with GoTrue message, before anything is mailed', async () => {
      const cases: Array<[Record<string, string>, string]> = [
        [
          { code_challenge: s256(newVerifier()) },
          'PKCE flow requires code_challenge_method and code_challenge',
        ],
        [{ code_challenge_method: 's256' }, 'PKCE flow requires code_challenge_method and code_challenge'],
        [
          { code_challenge: 'short', code_challenge_method: 's256' },
          'code challenge has to be between 43 and 128 characters',
        ],
        [
          { code_challenge: `${'a'.repeat(42)}!`, code_challenge_method: 's256' },
          'code challenge can only contain alphanumeric characters, hyphens, periods, underscores and tildes',
        ],
        [
          { code_challenge: s256(newVerifier()), code_challenge_method: 'S512' },
          'unsupported code_challenge method "S512"',
        ],
      ];
      const since = app.sink.mails.length;
      for (const [params, msg] of cases) {
        for (const url of ['/otp', '/recover', '/signup']) {
          const answer = await request({
            method: 'POST',
            url: `${PREFIX}${url}`,
            payload: { email: 'shape@acme.test', password: 'a long passphrase', ...params },
          });
          assertGotrueError(answer, 400, 'validation_failed', msg);
        }
      }
      await app.t.services.idle();
      assert.equal(app.sink.mails.slice(since).filter((mail) => mail.to === 'shape@acme.test').length, 0);
      const missing = await request({ method: 'POST', url: `${PREFIX}/token?grant_type=pkce`, payload: {} });
      assertGotrueError(
        missing,
        400,
        'validation_failed',
        'invalid request: both auth code and code verifier should be non-empty',
      );
    });
  });
}
