import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { TokenService, type TokenSettings } from '../../src/core/tokens.js';

const base: TokenSettings = {
  secret: null,
  accessTokenTtl: 60,
  clockTolerance: 0,
  issuer: null,
  audience: null,
};
const claims = { sub: 'u1', role: 'authenticated', session_id: 's1', token_version: 0 };

function pem(type: 'ec' | 'rsa' | 'ed25519', bits = 2048) {
  const options =
    type === 'ec'
      ? { namedCurve: 'P-256' }
      : type === 'rsa'
        ? { modulusLength: bits }
        : ({} as Record<string, never>);
  const pair = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

describe('asymmetric signing keys', () => {
  for (const [alg, type] of [
    ['ES256', 'ec'],
    ['RS256', 'rsa'],
    ['EdDSA', 'ed25519'],
  ] as const) {
    it(`${alg}: signs with kid, verifies, and publishes a JWKS that verifies too`, async () => {
      const key = pem(type);
      const tokens = new TokenService({ ...base, keys: [{ kid: 'k1', alg, privateKey: key.privateKey }] });
      const { token } = await tokens.sign(claims, new Date());
      const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
      assert.deepEqual(header, { alg, typ: 'JWT', kid: 'k1' });
      assert.equal((await tokens.verify(token, new Date())).sub, 'u1');
      const jwks = await tokens.jwks();
      assert.equal(jwks.keys.length, 1);
      assert.equal(jwks.keys[0]!.kid, 'k1');
      assert.equal('d' in jwks.keys[0]!, false, 'the JWKS must not leak the private part');
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks));
      assert.equal(payload.sub, 'u1');
    });
  }

  it('refuses to sign with a retiring key: from its retireAt every token it signed would be refused', async () => {
    const key = pem('ec');
    const retiring = {
      kid: 'old',
      alg: 'ES256' as const,
      privateKey: key.privateKey,
      retireAt: '2999-01-01T00:00:00Z',
    };
    assert.throws(() => new TokenService({ ...base, keys: [retiring] }), {
      message: /^jwt signing key "old" is retiring \(it has a retireAt\)/,
    });
    const other = { kid: 'new', alg: 'ES256' as const, privateKey: pem('ec').privateKey };
    assert.throws(
      () => new TokenService({ ...base, keys: [retiring, other] }),
      /signing key "old" is retiring/,
    );
    // Another key named to sign, the retiring one verifying only: a setup that starts.
    const tokens = new TokenService({ ...base, keys: [retiring, other], signingKeyId: 'new' });
    assert.deepEqual((await tokens.jwks()).keys.map((jwk) => jwk.kid).sort(), ['new', 'old']);
  });

  it('rotates: the new key signs, the old (verify-only) key still verifies its tokens', async () => {
    const oldKey = pem('ec');
    const newKey = pem('ec');
    const before = new TokenService({
      ...base,
      keys: [{ kid: 'old', alg: 'ES256', privateKey: oldKey.privateKey }],
    });
    const oldToken = (await before.sign(claims, new Date())).token;
    const after = new TokenService({
      ...base,
      keys: [
        { kid: 'new', alg: 'ES256', privateKey: newKey.privateKey },
        { kid: 'old', alg: 'ES256', publicKey: oldKey.publicKey },
      ],
    });
    assert.equal((await after.verify(oldToken, new Date())).sub, 'u1');
    const newToken = (await after.sign(claims, new Date())).token;
    assert.match(Buffer.from(newToken.split('.')[0]!, 'base64url').toString(), /"kid":"new"/);
    assert.equal((await after.jwks()).keys.length, 2);
  });

  it('refuses algorithm confusion: an HS256 token signed with the public key, with or without its kid', async () => {
    const key = pem('rsa');
    const tokens = new TokenService({
      ...base,
      keys: [{ kid: 'k1', alg: 'RS256', privateKey: key.privateKey }],
    });
    const secret = new TextEncoder().encode(key.publicKey);
    const exp = Math.floor(Date.now() / 1000) + 60;
    for (const header of [{ alg: 'HS256', kid: 'k1' }, { alg: 'HS256' }]) {
      const forged = await new SignJWT({ ...claims, exp }).setProtectedHeader(header).sign(secret);
      await assert.rejects(tokens.verify(forged, new Date()), { code: 'bad_jwt' });
    }
  });

  it('refuses an unknown kid and a token of a key it does not hold', async () => {
    const tokens = new TokenService({
      ...base,
      keys: [{ kid: 'k1', alg: 'ES256', privateKey: pem('ec').privateKey }],
    });
    const stranger = new TokenService({
      ...base,
      keys: [{ kid: 'k1', alg: 'ES256', privateKey: pem('ec').privateKey }],
    });
    await assert.rejects(tokens.verify((await stranger.sign(claims, new Date())).token, new Date()), {
      reason: 'invalid signature',
    });
    const other = new TokenService({
      ...base,
      keys: [{ kid: 'zz', alg: 'ES256', privateKey: pem('ec').privateKey }],
    });
    await assert.rejects(tokens.verify((await other.sign(claims, new Date())).token, new Date()), {
      reason: 'unknown key id',
    });
  });

  it('rejects weak or mismatched keys at start-up, naming the kid', () => {
    assert.throws(
      () =>
        new TokenService({
          ...base,
          keys: [{ kid: 'small', alg: 'RS256', privateKey: pem('rsa', 1024).privateKey }],
        }),
      /jwt key "small" is not a RS256 key/,
    );
    assert.throws(
      () =>
        new TokenService({ ...base, keys: [{ kid: 'ec', alg: 'EdDSA', privateKey: pem('ec').privateKey }] }),
      /jwt key "ec" is not a EdDSA key/,
    );
    assert.throws(
      () => new TokenService({ ...base, keys: [{ kid: 'bad', alg: 'ES256', privateKey: 'garbage' }] }),
      /"bad"/,
    );
    assert.throws(() => new TokenService({ ...base }), /no jwt secret or signing key/);
  });

  it('keeps verifying HS256 tokens from the secret while an asymmetric key signs', async () => {
    const hsOnly = new TokenService({ ...base, secret: 'the-old-shared-secret-0123456789' });
    const old = (await hsOnly.sign(claims, new Date())).token;
    const both = new TokenService({
      ...base,
      secret: 'the-old-shared-secret-0123456789',
      keys: [{ kid: 'k1', alg: 'EdDSA', privateKey: pem('ed25519').privateKey }],
    });
    assert.equal((await both.verify(old, new Date())).sub, 'u1');
    assert.match(
      Buffer.from((await both.sign(claims, new Date())).token.split('.')[0]!, 'base64url').toString(),
      /EdDSA/,
    );
  });
});
