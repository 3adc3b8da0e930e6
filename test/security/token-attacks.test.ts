import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, SignJWT, type JWTHeaderParameters } from 'jose';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * Forged and hostile access tokens against the data API's token check (a
 * read by id, over HTTP), each carrying a real user's claims: only the way it
 * is signed is wrong. The server holds an HS256 secret (tokens without a
 * kid), an RS256 key that signs (kid "current"), an ES256 key retired by
 * rotation (kid "old") and one still in its grace period (kid "grace").
 */
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }) as string;

describe('access tokens an attacker forges are refused by the data API', () => {
  const current = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const old = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const grace = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let t: TestApp;
  let claims: Record<string, unknown>;
  let issued: string;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        signup: { confirmEmail: false },
        jwt: {
          signingKeyId: 'current',
          keys: [
            {
              kid: 'current',
              alg: 'RS256',
              privateKey: current.privateKey.export({ type: 'pkcs8', format: 'pem' }),
            },
            { kid: 'old', alg: 'ES256', publicKey: pem(old.publicKey), retireAt: '2020-01-01T00:00:00Z' },
            { kid: 'grace', alg: 'ES256', publicKey: pem(grace.publicKey), retireAt: '2999-01-01T00:00:00Z' },
          ],
        },
        data: { rules: { notes: 660 } },
      },
      files: { 'db.json': JSON.stringify({ users: [], notes: [{ id: 1, text: 'members only' }] }) },
    });
    const signedUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'ann@example.com', password: 'correct horse battery' },
    });
    assert.equal(signedUp.statusCode, 200, signedUp.body);
    issued = (signedUp.json() as { access_token: string }).access_token;
    claims = decodeJwt(issued);
  });
  after(() => t.close());

  const read = async (token: string) => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/notes/1',
      headers: { authorization: `Bearer ${token}` },
    });
    return response.statusCode;
  };
  const sign = (header: JWTHeaderParameters, key: KeyObject | Uint8Array, payload = claims) =>
    new SignJWT(payload).setProtectedHeader(header).sign(key);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('reads with the token it issued (the forgeries below differ only in their signing)', async () => {
    assert.equal(await read(issued), 200);
    assert.equal(await read(await sign({ alg: 'RS256', kid: 'current' }, current.privateKey)), 200);
  });

  it('refuses HS256 signed with the RS256 public key as the secret, with or without its kid', async () => {
    const secret = new TextEncoder().encode(pem(current.publicKey));
    assert.equal(await read(await sign({ alg: 'HS256', kid: 'current' }, secret)), 401);
    assert.equal(await read(await sign({ alg: 'HS256' }, secret)), 401);
  });

  it("refuses RS256 signed with the attacker's key, under the server's kid or none (the HS256 secret's)", async () => {
    assert.equal(await read(await sign({ alg: 'RS256', kid: 'current' }, attacker.privateKey)), 401);
    assert.equal(await read(await sign({ alg: 'RS256' }, attacker.privateKey)), 401);
  });

  it('refuses a token of a key retired by rotation, and honours one in its grace period', async () => {
    assert.equal(await read(await sign({ alg: 'ES256', kid: 'old' }, old.privateKey)), 401);
    assert.equal(await read(await sign({ alg: 'ES256', kid: 'grace' }, grace.privateKey)), 200);
  });

  it('refuses a validly signed token with a crit header restauth does not understand', async () => {
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'current', crit: ['x-restauth-test'], 'x-restauth-test': 1 })
      // Told the extension is understood, jose signs it; restauth understands no extension.
      .sign(current.privateKey, { crit: { 'x-restauth-test': true } });
    assert.equal(await read(token), 401);
  });

  it('refuses alg none and HS512 under the HS256 secret', async () => {
    assert.equal(await read(`${encode({ alg: 'none' })}.${encode(claims)}.`), 401);
    assert.equal(await read(`${encode({ alg: 'none', kid: 'current' })}.${encode(claims)}.`), 401);
    const secret = new TextEncoder().encode(t.config.jwt.secret!);
    assert.equal(await read(await sign({ alg: 'HS512' }, secret)), 401);
    // The secret itself signs: the refusals above are the algorithm's, not the key's.
    assert.equal(await read(await sign({ alg: 'HS256' }, secret)), 200);
  });

  it("refuses a token naming its own key (jwk, jku, x5u, x5c: the attacker's) and never fetches one", async () => {
    // A key server of the attacker's: any request to it would be restauth following the header.
    const fetched: string[] = [];
    const attackerJwk = await exportJWK(attacker.publicKey);
    const keyServer: Server = createServer((request, response) => {
      fetched.push(request.url ?? '');
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [{ ...attackerJwk, kid: 'current', alg: 'RS256', use: 'sig' }] }));
    });
    await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = keyServer.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}/jwks.json`;
      const headers: JWTHeaderParameters[] = [
        { alg: 'RS256', jwk: attackerJwk },
        { alg: 'RS256', kid: 'current', jwk: attackerJwk },
        { alg: 'RS256', jku: url },
        { alg: 'RS256', kid: 'current', jku: url },
        { alg: 'RS256', kid: 'current', x5u: url },
        { alg: 'RS256', kid: 'current', x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] },
      ];
      for (const header of headers) {
        assert.equal(await read(await sign(header, attacker.privateKey)), 401, JSON.stringify(header));
      }
      assert.deepEqual(fetched, []);
    } finally {
      await new Promise((resolve) => keyServer.close(resolve));
    }
  });

  it('refuses a kid that names a path or SQL, and one that names a key by another spelling', async () => {
    const secret = new TextEncoder().encode(t.config.jwt.secret!);
    for (const kid of [
      '../../../../etc/passwd',
      "current' OR '1'='1",
      'current\u0000',
      'CURRENT',
      ' current',
      'constructor',
      '__proto__',
      'toString',
    ]) {
      assert.equal(await read(await sign({ alg: 'RS256', kid }, attacker.privateKey)), 401, kid);
      assert.equal(await read(await sign({ alg: 'HS256', kid }, secret)), 401, `HS256 ${kid}`);
    }
  });

  it('refuses what is not an access token: its refresh token, a role token, an access token cut or joined', async () => {
    const signedIn = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email: 'ann@example.com', password: 'correct horse battery' },
    });
    assert.equal(signedIn.statusCode, 200, signedIn.body);
    const { refresh_token: refreshToken, access_token: accessToken } = signedIn.json() as {
      refresh_token: string;
      access_token: string;
    };
    assert.equal(await read(accessToken), 200);
    assert.equal(await read(refreshToken), 401);
    for (const role of ['authenticated', 'anon', 'service_role']) {
      assert.equal(await read(await t.services.tokens.signRoleToken(role, 3600, new Date())), 401, role);
    }
    const [header, payload, signature] = accessToken.split('.') as [string, string, string];
    assert.equal(await read(`${header}.${payload}`), 401);
    assert.equal(await read(`${header}.${payload}.${signature}.${signature}`), 401);
    assert.equal(await read(`${header}.${payload}.`), 401);
    assert.equal(await read(`${accessToken} ${accessToken}`), 401);
  });

  it('answers huge tokens 401, never a 500: a megabyte of garbage, and a padded claim set badly signed', async () => {
    assert.equal(await read('a'.repeat(1_000_000)), 401);
    assert.equal(await read(`${'e'.repeat(500_000)}.${'e'.repeat(500_000)}.sig`), 401);
    const padded = { ...claims, padding: 'x'.repeat(1_000_000) };
    assert.equal(await read(await sign({ alg: 'RS256', kid: 'current' }, attacker.privateKey, padded)), 401);
    // Deeply nested JSON in the header and the claims is refused, never a parser's stack overflow (a 500).
    const nested = Buffer.from('['.repeat(100_000) + ']'.repeat(100_000)).toString('base64url');
    assert.equal(await read(`${nested}.${nested}.sig`), 401);
    assert.equal(await read(`${encode({ alg: 'HS256' })}.${nested}.sig`), 401);
  });
});
