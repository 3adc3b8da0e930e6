import assert from 'node:assert/strict';
import {
  createServer,
  request as forward,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { floodAnswer } from '../support/answer-flood.js';
import { parse, valueOf } from '../support/metric-samples.js';
import { startOAuthApp, type OAuthApp } from '../support/oauth-app.js';
import {
  cookieHeader,
  followRedirects,
  startOidcProvider,
  type CookieJar,
  type TestIdp,
} from '../support/oidc-provider.js';

/**
 * A provider whose endpoint hangs: the connection is accepted and never answered, or the answer stops
 * half-way. restauth gives up at its provider timeout (`identities.providerTimeout`, GoTrue's 10 s;
 * 1 s here, and each test's guard is below 10 s, so a constant 10 s fails them).
 *
 * signInWithIdToken (POST /token?grant_type=id_token) whose key set (JWKS) hangs says the provider
 * cannot be reached: 503 with Retry-After, as a discovery that fails does. It answered 400 "Bad ID
 * token": a provider's outage told to the user as a forged token, and counted as one. Once the JWKS
 * answers again the same token signs in. A callback whose code exchange (the token endpoint) or
 * userinfo hangs leads back with GoTrue's error at the same bound, and the held request is let go.
 *
 * The provider is a real oidc-provider behind a front server that is its issuer: every request is
 * passed on as it came (Host too: oidc-provider names its endpoints by it), but the held path's is
 * held as the test says.
 */
type HoldMode =
  | 'answer'
  | 'never answer'
  | 'stop half-way'
  | 'flood'
  | 'declare a huge size'
  | 'refuse and flood'
  | 'trickle';

/** What a flooding provider sends before it holds the rest (without end): 64 times the test's bound. */
const FLOOD_BYTES = 4 * 1024 * 1024;
const ANSWER_LIMIT = 64 * 1024;
/**
 * What a trickling provider sends of each answer before it holds the rest: under the answer's own
 * bound, but three of them pass ANSWER_BUDGET, which two fit in.
 */
const TRICKLE_BYTES = 48 * 1024;
const ANSWER_BUDGET = 128 * 1024;

interface FrontedIdp extends TestIdp {
  /** The path held (/jwks, /token, /me: oidc-provider's userinfo), and how. */
  hold: { path: string; mode: HoldMode };
  /** Resolves with the next held request once restauth, its client, lets it go. */
  nextHeldClosed(): Promise<void>;
  /** Ends every held answer by closing its connection, as a provider that goes away does. */
  cutHeld(): void;
}

async function frontedIdp(redirectUri: string): Promise<FrontedIdp> {
  const held = new Set<ServerResponse>();
  let heldClosed: (() => void) | null = null;
  const front: Server = createServer((request: IncomingMessage, response) => {
    if (request.url?.split('?')[0] === fronted.hold.path && fronted.hold.mode !== 'answer') {
      held.add(response);
      request.resume();
      response.on('close', () => heldClosed?.());
      if (fronted.hold.mode === 'stop half-way') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"keys":[');
      } else if (fronted.hold.mode === 'flood') {
        floodAnswer(response, FLOOD_BYTES);
      } else if (fronted.hold.mode === 'refuse and flood') {
        floodAnswer(response, FLOOD_BYTES, 503);
      } else if (fronted.hold.mode === 'trickle') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write(`{"access_token":"${'a'.repeat(TRICKLE_BYTES)}`);
      } else if (fronted.hold.mode === 'declare a huge size') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 ** 40 });
        response.write('{"keys":[');
      }
      return;
    }
    const { port } = new URL(idp.origin);
    const passed = forward(
      { host: '127.0.0.1', port, path: request.url, method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    passed.on('error', (error) => response.writeHead(502).end(String(error)));
    request.pipe(passed);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  const idp = await startOidcProvider({ redirectUris: [redirectUri], issuer });
  const fronted: FrontedIdp = Object.assign(Object.create(idp) as TestIdp, {
    hold: { path: '/jwks', mode: 'answer' as HoldMode },
    nextHeldClosed: () => new Promise<void>((resolve) => (heldClosed = resolve)),
    cutHeld: () => {
      for (const response of held) response.destroy();
      held.clear();
    },
    close: async () => {
      for (const response of held) response.destroy();
      front.closeAllConnections();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await idp.close();
    },
  });
  return fronted;
}

/**
 * The app at a 1 s provider timeout, or for the size bound's tests at 60 s and a 64 KiB bound: an
 * oversized answer must fail at once, so without the bound they fail at their guard, not at the
 * timeout's same error.
 */
const startFrontedApp = (bound: 'time' | 'size' = 'time') =>
  startOAuthApp({
    config: {
      siteUrl: 'https://app.test',
      metrics: { enabled: true },
      identities:
        bound === 'time'
          ? { providerTimeout: 1 }
          : { providerTimeout: 60, providerAnswerLimit: ANSWER_LIMIT, providerAnswerBudget: ANSWER_BUDGET },
    },
    provider: frontedIdp,
    external: (idp) => ({
      keycloak: { enabled: true, client_id: idp.clientId, secret: idp.clientSecret, url: idp.issuer },
    }),
  });

/** The provider's login done as kc-ola (through the front), restauth's callback address with its code. */
function callbackOf(app: OAuthApp<FrontedIdp>, jar: CookieJar): Promise<URL> {
  app.provider.loginAs('kc-ola');
  return followRedirects(
    `${app.url}/authorize?provider=keycloak`,
    (at) => at.pathname === '/auth/v1/callback',
    15,
    jar,
  );
}

/** Each test's guard: well over the 1 s bound, under the former constant 10 s. */
const GUARD = { timeout: 8_000 };

// One app and provider for each: a key set fetched once is cached (jose), so a later hang is never met.
// The size bound's apps fetch discovery (flooded first) and the key set at their first sign-in.
const BOUNDS = [
  ['time', 'never answer'],
  ['time', 'stop half-way'],
  ['size', 'flood'],
  ['size', 'declare a huge size'],
  ['size', 'refuse and flood'],
] as const;

for (const [bound, mode] of BOUNDS) {
  describe(`signInWithIdToken while the provider’s JWKS would ${mode}`, () => {
    let app: OAuthApp<FrontedIdp>;
    before(async () => {
      app = await startFrontedApp(bound);
    });
    after(async () => {
      await app?.close();
    });

    const signIn = (token: string) =>
      fetch(`${app.url}/token?grant_type=id_token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ provider: 'keycloak', id_token: token }),
      });

    /** The sign-in while `path` is held: 503 with Retry-After, and the held answer let go. */
    async function refusedWhileHeld(token: string, path: string): Promise<void> {
      const idp = app.provider;
      idp.hold = { path, mode };
      const letGo = idp.nextHeldClosed();
      const hung = await signIn(token);
      const body = (await hung.json()) as { error_code?: string };
      assert.equal(hung.status, 503, JSON.stringify(body));
      assert.equal(body.error_code, 'service_unavailable');
      assert.ok(hung.headers.get('retry-after'), 'Retry-After');
      await letGo;
    }

    it(
      `503 with Retry-After at the provider’s ${bound} bound, then the token signs in once it answers`,
      GUARD,
      async () => {
        const token = await app.provider.idToken({
          sub: 'kc-ida',
          email: 'ida@acme.test',
          email_verified: true,
        });
        if (bound === 'size') await refusedWhileHeld(token, '/.well-known/openid-configuration');
        await refusedWhileHeld(token, '/jwks');

        app.provider.hold.mode = 'answer';
        const answered = await signIn(token);
        assert.equal(answered.status, 200, await answered.clone().text());
      },
    );
  });
}

for (const [bound, mode] of [BOUNDS[0], BOUNDS[2], BOUNDS[3], BOUNDS[4]]) {
  describe(`a callback while the provider’s token or userinfo endpoint would ${mode}`, () => {
    let app: OAuthApp<FrontedIdp>;
    before(async () => {
      app = await startFrontedApp(bound);
      app.provider.accounts.set('kc-ola', { email: 'ola@acme.test', email_verified: true });
    });
    after(async () => {
      await app?.close();
    });

    for (const [path, description] of [
      ['/token', 'Unable to exchange external code'],
      ['/me', 'Error getting user profile from external provider'],
    ] as const) {
      it(`${path}: leads back with GoTrue’s error at the provider’s ${bound} bound`, GUARD, async () => {
        const jar: CookieJar = new Map();
        const callback = await callbackOf(app, jar);
        app.provider.hold = { path, mode };
        const letGo = app.provider.nextHeldClosed();
        const answer = await fetch(callback, {
          redirect: 'manual',
          headers: { cookie: cookieHeader(jar, callback) },
        });
        const body = await answer.text();
        app.provider.hold.mode = 'answer';
        await letGo;
        const landed = new URL(answer.headers.get('location') ?? '', app.base);
        assert.equal(landed.origin, 'https://app.test', `${answer.status} ${body}`);
        const error = landed.searchParams;
        assert.equal(error.get('error_code'), 'unexpected_failure');
        assert.equal(error.get('error_description'), description);
      });
    }
  });
}

/**
 * Many sign-ins against a provider that trickles each answer and never ends it: each answer fits
 * its own bound, so without a bound on all of them together every sign-in held its bytes until the
 * (here 60 s) timeout. Three held answers pass identities.providerAnswerBudget, which two fit in:
 * whatever order their bytes come in, one sign-in at least is refused at once, and once the held
 * ones are let go their bytes are free again, so the next sign-in goes through.
 */
describe('callbacks while the provider trickles answers that never end, past the answer budget', () => {
  let app: OAuthApp<FrontedIdp>;
  before(async () => {
    app = await startFrontedApp('size');
    app.provider.accounts.set('kc-ola', { email: 'ola@acme.test', email_verified: true });
  });
  after(async () => {
    await app?.close();
  });

  async function startCallback(): Promise<{ jar: CookieJar; callback: URL }> {
    const jar: CookieJar = new Map();
    return { jar, callback: await callbackOf(app, jar) };
  }
  const answerOf = ({ jar, callback }: { jar: CookieJar; callback: URL }) =>
    fetch(callback, { redirect: 'manual', headers: { cookie: cookieHeader(jar, callback) } });

  it(
    'refuses a sign-in at once past the budget, and lets the next one in once the answers end',
    GUARD,
    async () => {
      const callbacks = [await startCallback(), await startCallback(), await startCallback()];
      const next = await startCallback();
      app.provider.hold = { path: '/token', mode: 'trickle' };
      const pending = callbacks.map(answerOf);
      const first = await Promise.race(pending);
      const landed = new URL(first.headers.get('location') ?? '', app.base);
      assert.equal(landed.origin, 'https://app.test', `${first.status} ${await first.text()}`);
      assert.equal(landed.searchParams.get('error_code'), 'unexpected_failure');
      assert.equal(landed.searchParams.get('error_description'), 'Unable to exchange external code');

      // The held answers end (their connections closed): each gives its bytes back as it fails.
      app.provider.hold.mode = 'answer';
      app.provider.cutHeld();
      await Promise.all(pending);
      const samples = parse((await app.t.app.inject({ url: '/metrics' })).body);
      assert.equal(valueOf(samples, 'restauth_provider_answer_bytes_held'), 0);
      assert.ok(valueOf(samples, 'restauth_provider_answers_cut_total')! >= 1);

      const signedIn = new URL((await answerOf(next)).headers.get('location') ?? '', app.base);
      assert.equal(signedIn.origin, 'https://app.test');
      assert.ok(new URLSearchParams(signedIn.hash.slice(1)).get('access_token'), signedIn.href);
    },
  );
});
