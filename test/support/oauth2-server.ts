import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { floodAnswer } from './answer-flood.js';

/**
 * A GitHub-style OAuth2 server for tests, listening on 127.0.0.1 (a real
 * server: restauth reaches it over HTTP as it would reach github.com). It
 * speaks GitHub's OAuth App dialect, quirks included:
 *
 * - GET /login/oauth/authorize approves at once, as the account the test chose
 *   (`signInAs`), and redirects to redirect_uri with `code` and `state`; or
 *   with `error=access_denied` when the test says the user refuses (`denyNext`);
 * - POST /login/oauth/access_token (form or JSON) answers a form-encoded body
 *   unless the client accepts JSON, and a refusal with status 200 and an
 *   `error` field (bad_verification_code, incorrect_client_credentials,
 *   redirect_uri_mismatch), as GitHub does; codes are single-use, expire
 *   after 10 minutes and check the PKCE verifier when a challenge was sent;
 * - GET /user and GET /user/emails with `Authorization: Bearer|token <token>`,
 *   also under /api/v3 as GitHub Enterprise Server serves them (the preset's
 *   `url` setting points there).
 */

export interface GithubAccount {
  id: number;
  login: string;
  name: string | null;
  /** The public profile address (/user's `email`); null when the user hides it. */
  email: string | null;
  avatar_url: string;
  /** /user/emails: every address of the account. */
  emails: Array<{
    email: string;
    primary: boolean;
    verified: boolean;
    visibility?: 'public' | 'private' | null;
  }>;
}

export interface OAuth2Server {
  /** http://127.0.0.1:PORT, the `url` a GitHub Enterprise preset takes. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Who approves the next authorization requests (until changed). */
  signInAs(account: GithubAccount): void;
  /** The next authorization request is refused by the user (GitHub's error=access_denied). */
  denyNext(): void;
  /**
   * The next GET /user answers `bytes` without end (test/support/answer-flood.ts) with `status`
   * (200); resolves once its reader lets the answer go.
   */
  floodNextUser(bytes: number, status?: number): Promise<void>;
  /** The next GET /user answers 302 to `location` (a provider leading restauth's request elsewhere). */
  redirectNextUser(location: string): void;
  /** The authorization requests received, their query as sent (state, scope, redirect_uri ...). */
  authorizations: Array<Record<string, string>>;
  /** The token requests received, with the body as parsed. */
  tokenRequests: Array<Record<string, string>>;
  close(): Promise<void>;
}

interface IssuedCode {
  account: GithubAccount;
  redirectUri: string | undefined;
  challenge: { value: string; method: string } | null;
  expiresAt: number;
}

const CODE_LIFETIME_MS = 10 * 60 * 1000;

function token(): string {
  return randomBytes(20).toString('hex');
}

/** A GitHub account as the API shows one, with one primary verified address. */
export function githubAccount(id: number, login: string, email: string, verified = true): GithubAccount {
  return {
    id,
    login,
    name: login.charAt(0).toUpperCase() + login.slice(1),
    email: null,
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    emails: [{ email, primary: true, verified, visibility: 'private' }],
  };
}

export async function startOAuth2Server(
  options: { clientId?: string; clientSecret?: string; now?: () => number } = {},
): Promise<OAuth2Server> {
  const clientId = options.clientId ?? 'Iv1.restauth-test';
  const clientSecret = options.clientSecret ?? token();
  const now = options.now ?? Date.now;
  const codes = new Map<string, IssuedCode>();
  const accessTokens = new Map<string, GithubAccount>();
  const authorizations: Array<Record<string, string>> = [];
  const tokenRequests: Array<Record<string, string>> = [];
  let account: GithubAccount | null = null;
  let deny = false;
  let flood: { bytes: number; status: number; closed: () => void } | null = null;
  let redirect: string | null = null;

  // Its close ends every connection, a held flood's and restauth's kept-alive ones included: it is a
  // fixture, and waiting for them held a suite's teardown for about 70 s.
  const app: FastifyInstance = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(formbody);

  app.get('/login/oauth/authorize', async (request, reply) => {
    const query = request.query as Record<string, string>;
    authorizations.push({ ...query });
    if (query['client_id'] !== clientId) {
      return reply.code(404).type('text/plain').send('Not Found');
    }
    const redirectUri = query['redirect_uri'];
    if (!redirectUri) return reply.code(400).type('text/plain').send('redirect_uri is required here');
    const target = new URL(redirectUri);
    if (query['state'] !== undefined) target.searchParams.set('state', query['state']);
    if (deny || account === null) {
      deny = false;
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('error_description', 'The user has denied your application access.');
      target.searchParams.set(
        'error_uri',
        'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied',
      );
      return reply.redirect(target.toString(), 302);
    }
    const code = token().slice(0, 20);
    const challenge = query['code_challenge'];
    codes.set(code, {
      account,
      redirectUri,
      challenge: challenge ? { value: challenge, method: query['code_challenge_method'] ?? 'plain' } : null,
      expiresAt: now() + CODE_LIFETIME_MS,
    });
    target.searchParams.set('code', code);
    return reply.redirect(target.toString(), 302);
  });

  /** GitHub answers token errors with 200 and the error in the body, in the format the client accepts. */
  function tokenAnswer(request: FastifyRequest, reply: FastifyReply, body: Record<string, string>) {
    if ((request.headers.accept ?? '').includes('application/json')) return reply.send(body);
    return reply
      .type('application/x-www-form-urlencoded; charset=utf-8')
      .send(new URLSearchParams(body).toString());
  }

  app.post('/login/oauth/access_token', async (request, reply) => {
    const body = Object.fromEntries(
      Object.entries((request.body ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    );
    // Client credentials may come in the body or as HTTP Basic (golang.org/x/oauth2 tries both).
    const basic = /^Basic (.+)$/u.exec(request.headers.authorization ?? '')?.[1];
    if (basic) {
      const [id, secret] = Buffer.from(basic, 'base64').toString().split(':');
      body['client_id'] ??= decodeURIComponent(id ?? '');
      body['client_secret'] ??= decodeURIComponent(secret ?? '');
    }
    tokenRequests.push({ ...body });
    if (body['client_id'] !== clientId || body['client_secret'] !== clientSecret) {
      return tokenAnswer(request, reply, {
        error: 'incorrect_client_credentials',
        error_description: 'The client_id and/or client_secret passed are incorrect.',
      });
    }
    const code = body['code'] ?? '';
    const issued = codes.get(code);
    codes.delete(code);
    const badCode = {
      error: 'bad_verification_code',
      error_description: 'The code passed is incorrect or expired.',
    };
    if (!issued || issued.expiresAt <= now()) return tokenAnswer(request, reply, badCode);
    if (body['redirect_uri'] !== undefined && body['redirect_uri'] !== issued.redirectUri) {
      return tokenAnswer(request, reply, {
        error: 'redirect_uri_mismatch',
        error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
      });
    }
    if (issued.challenge) {
      const verifier = body['code_verifier'] ?? '';
      const computed =
        issued.challenge.method === 'S256'
          ? createHash('sha256').update(verifier).digest('base64url')
          : verifier;
      if (computed !== issued.challenge.value) return tokenAnswer(request, reply, badCode);
    }
    const accessToken = `gho_${token()}`;
    accessTokens.set(accessToken, issued.account);
    return tokenAnswer(request, reply, {
      access_token: accessToken,
      token_type: 'bearer',
      scope: 'user:email',
    });
  });

  function accountOf(request: FastifyRequest): GithubAccount | undefined {
    const presented = /^(?:Bearer|token) (.+)$/iu.exec(request.headers.authorization ?? '')?.[1];
    return presented === undefined ? undefined : accessTokens.get(presented);
  }
  const unauthorized = {
    message: 'Requires authentication',
    documentation_url: 'https://docs.github.com/rest',
    status: '401',
  };
  for (const base of ['', '/api/v3']) {
    app.get(`${base}/user`, async (request, reply) => {
      if (redirect !== null) {
        const location = redirect;
        redirect = null;
        return reply.redirect(location, 302);
      }
      if (flood !== null) {
        const { bytes, status, closed } = flood;
        flood = null;
        reply.hijack();
        reply.raw.on('close', closed);
        return floodAnswer(reply.raw, bytes, status);
      }
      const owner = accountOf(request);
      if (!owner) return reply.code(401).send(unauthorized);
      const { emails: _emails, ...profile } = owner;
      return { ...profile, type: 'User', site_admin: false, html_url: `https://github.com/${owner.login}` };
    });
    app.get(`${base}/user/emails`, async (request, reply) => {
      const owner = accountOf(request);
      if (!owner) return reply.code(401).send(unauthorized);
      return owner.emails.map((entry) => ({ visibility: null, ...entry }));
    });
  }

  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    clientId,
    clientSecret,
    signInAs: (next) => {
      account = next;
    },
    denyNext: () => {
      deny = true;
    },
    floodNextUser: (bytes, status = 200) =>
      new Promise<void>((closed) => (flood = { bytes, status, closed })),
    redirectNextUser: (location) => {
      redirect = location;
    },
    authorizations,
    tokenRequests,
    close: () => app.close(),
  };
}
