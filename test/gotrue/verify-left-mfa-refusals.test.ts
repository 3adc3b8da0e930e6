import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { AuthError as ClientAuthError, GoTrueAdminApi, GoTrueClient } from '@supabase/auth-js';
import { gotrueClient, nextMail, secretsOf, serviceAdminOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';
import { queryOnce, verifiedTotpFactor } from '../support/mfa-factors.js';
import { pressedLinkTarget } from '../support/pkce.js';

/**
 * A mailed link or code of a user with a verified MFA factor (an adopted GoTrue database's) is refused
 * its session (403 insufficient_aal: restauth asks no second factor). The token was spent before that
 * refusal: on GoTrue's JSON /verify, on a link with redirect_to (the session handed to the app), and on
 * a PKCE link (refused at the code's exchange, after the link and the code were both spent). Once the
 * operator deleted the factor, the person had to ask for another mail. Now the refusal comes before the
 * code is issued, the token is stored again, and the same link or code signs in after the factor is
 * gone; a link's refusal goes to the app's page as GoTrue's error redirect, never a JSON body in the
 * browser; and a refused sign-in does not move last_sign_in_at. Real PostgreSQL, real SMTP, the real
 * auth-js (verifyOtp, admin.mfa.deleteFactor, exchangeCodeForSession).
 */
const APP = 'https://app.test';
const CALLBACK = `${APP}/cb`;
const PASSWORD = 'a long passphrase 9';
const codeOf = (error: ClientAuthError | null) => (error as { code?: string } | null)?.code;

describe('a refused session keeps the mailed link or code (postgres store)', { timeout: 60_000 }, () => {
  const app = listeningMailingApp('postgres', { siteUrl: APP, oneTimeTokens: { resendInterval: 0 } });
  let admin: GoTrueAdminApi;

  before(async () => {
    admin = await serviceAdminOf(app);
  });

  /** A confirmed user with a verified TOTP factor: its id and the factor's. */
  async function userWithFactor(email: string): Promise<{ userId: string; factorId: string }> {
    const { data, error } = await admin.createUser({ email, password: PASSWORD, email_confirm: true });
    assert.equal(error, null);
    const userId = data.user!.id;
    return { userId, factorId: await verifiedTotpFactor(app.store.config, userId) };
  }

  async function deleteFactor(userId: string, factorId: string): Promise<void> {
    const { error } = await admin.mfa.deleteFactor({ userId, id: factorId });
    assert.equal(error, null);
  }

  /** The link and code of the mail `ask` makes restauth send to `email`. */
  async function mailed(email: string, ask: () => Promise<{ error: unknown }>) {
    const since = app.sink.mails.length;
    assert.equal((await ask()).error, null);
    return secretsOf(await nextMail(app.sink, email, since));
  }

  const lastSignIn = async (userId: string) =>
    (await queryOnce(app.store.config, 'SELECT last_sign_in_at FROM auth.users WHERE id = $1', [userId]))
      .rows[0];

  /** Presses the hosted page's button of a mailed link, as its form posts; the redirect's target. */
  const press = (link: string): Promise<URL> =>
    pressedLinkTarget((options) => app.t.app.inject(options), link);

  const fragmentOf = (target: URL) => new URLSearchParams(target.hash.slice(1));

  it("GoTrue's JSON verify with a code: refused, the code works once the factor is deleted", async () => {
    const email = 'jay@acme.test';
    const { userId, factorId } = await userWithFactor(email);
    const { client } = gotrueClient(app.url);
    const { code } = await mailed(email, () =>
      client.signInWithOtp({ email, options: { shouldCreateUser: false } }),
    );
    const before = await lastSignIn(userId);
    const refused = await client.verifyOtp({ email, token: code, type: 'email' });
    assert.equal(codeOf(refused.error), 'insufficient_aal');
    assert.equal(refused.error?.status, 403);
    assert.deepEqual(await lastSignIn(userId), before, 'a refused sign-in moved last_sign_in_at');

    await deleteFactor(userId, factorId);
    const verified = await client.verifyOtp({ email, token: code, type: 'email' });
    assert.equal(verified.error, null);
    assert.equal(verified.data.user?.id, userId);
  });

  it("GoTrue's JSON verify with a recovery link's token_hash: refused, the link works once the factor is deleted", async () => {
    const email = 'kim@acme.test';
    const { userId, factorId } = await userWithFactor(email);
    const { client } = gotrueClient(app.url);
    const { link } = await mailed(email, () => client.resetPasswordForEmail(email));
    const tokenHash = new URL(link).searchParams.get('token')!;
    const refused = await client.verifyOtp({ token_hash: tokenHash, type: 'recovery' });
    assert.equal(codeOf(refused.error), 'insufficient_aal');

    await deleteFactor(userId, factorId);
    const verified = await client.verifyOtp({ token_hash: tokenHash, type: 'recovery' });
    assert.equal(verified.error, null);
    assert.equal(verified.data.user?.id, userId);
  });

  it("a recovery link with redirect_to: the app's page hears the refusal; the same link signs in once the factor is deleted", async () => {
    const email = 'lou@acme.test';
    const { userId, factorId } = await userWithFactor(email);
    const { client } = gotrueClient(app.url);
    const { link } = await mailed(email, () => client.resetPasswordForEmail(email, { redirectTo: CALLBACK }));

    const refused = await press(link);
    assert.equal(refused.origin + refused.pathname, CALLBACK);
    const error = fragmentOf(refused);
    assert.equal(error.get('error'), 'access_denied');
    assert.equal(error.get('error_code'), 'insufficient_aal');
    assert.equal(error.get('access_token'), null);

    await deleteFactor(userId, factorId);
    const signedIn = fragmentOf(await press(link));
    assert.equal(signedIn.get('error_code'), null);
    const { data } = await client.getUser(signedIn.get('access_token')!);
    assert.equal(data.user?.id, userId);
  });

  it('a newer mail issued while a refused link is stored again stands: the older link is not put back over it', async () => {
    const email = 'ned@acme.test';
    const { userId, factorId } = await userWithFactor(email);
    const { client } = gotrueClient(app.url);
    const ask = () => client.signInWithOtp({ email, options: { shouldCreateUser: false } });
    const older = (await mailed(email, ask)).link;
    // The race, made: the owner asks for another link after the refused one was spent, before it is
    // stored again (the store's write of it, which queues no mail).
    const store = app.t.services.store;
    const create = store.createOneTimeToken.bind(store);
    let newer: string | null = null;
    store.createOneTimeToken = async (token, mails, options) => {
      if (newer === null && token.purpose === 'magiclink' && (mails ?? []).length === 0)
        newer = (await mailed(email, ask)).link;
      return create(token, mails, options);
    };
    try {
      const refused = await client.verifyOtp({
        token_hash: new URL(older).searchParams.get('token')!,
        type: 'magiclink',
      });
      assert.equal(codeOf(refused.error), 'insufficient_aal');
    } finally {
      store.createOneTimeToken = create;
    }
    assert.ok(newer, 'the refused link was not stored again');

    await deleteFactor(userId, factorId);
    const signedIn = await client.verifyOtp({
      token_hash: new URL(newer).searchParams.get('token')!,
      type: 'magiclink',
    });
    assert.equal(signedIn.error, null, 'the newest mailed link was replaced by the refused one');
  });

  it('a PKCE magic link: refused before its code is issued; the same link ends the flow once the factor is deleted', async () => {
    const email = 'max@acme.test';
    const { userId, factorId } = await userWithFactor(email);
    const { client }: { client: GoTrueClient } = gotrueClient(app.url, { flowType: 'pkce' });
    const { link } = await mailed(email, () =>
      client.signInWithOtp({ email, options: { shouldCreateUser: false, emailRedirectTo: CALLBACK } }),
    );

    const refused = await press(link);
    assert.equal(refused.searchParams.get('code'), null);
    assert.equal(refused.searchParams.get('error_code'), 'insufficient_aal');
    assert.equal(fragmentOf(refused).get('error_code'), 'insufficient_aal');

    await deleteFactor(userId, factorId);
    const code = (await press(link)).searchParams.get('code');
    assert.ok(code, 'no code issued');
    const exchanged = await client.exchangeCodeForSession(code);
    assert.equal(exchanged.error, null);
    assert.equal(exchanged.data.user?.id, userId);
  });
});
