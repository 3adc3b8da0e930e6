import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { TokenService } from '../../src/core/tokens.js';
import { at, TOKEN_SETTINGS as settings, USER_CLAIMS as claims } from '../support/token-fixtures.js';
import { VerifiedTokens } from '../../src/core/verified-tokens.js';

/**
 * A token verified once is not verified again (verified-tokens.ts): each test first has the token
 * accepted, so it is in the cache, then tries what the cache must not let through.
 */
describe('TokenService, a token seen before', () => {
  it('still expires, and is not yet valid before its nbf, against the clock of each call', async () => {
    const tokens = new TokenService(settings);
    const { token } = await tokens.sign(claims, at(0));
    assert.equal((await tokens.verify(token, at(1))).sub, 'alice');
    await assert.rejects(tokens.verify(token, at(63)), { code: 'token_expired', reason: 'jwt expired' });
    assert.equal((await tokens.verify(token, at(30))).sub, 'alice', 'an earlier clock: valid again');

    const key = new TextEncoder().encode(settings.secret);
    const later = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setNotBefore(Math.floor(at(100).getTime() / 1000))
      .setExpirationTime(Math.floor(at(200).getTime() / 1000))
      .sign(key);
    assert.equal((await tokens.verify(later, at(150))).sub, 'alice');
    await assert.rejects(tokens.verify(later, at(50)), { reason: 'jwt not active' });
  });

  it('is refused once its key is retired', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signer = new TokenService({
      ...settings,
      accessTokenTtl: 3600,
      keys: [
        {
          kid: 'k1',
          alg: 'ES256',
          privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        },
      ],
    });
    const { token } = await signer.sign(claims, at(0));
    // After a rotation: the key verifies only (the secret signs), until its retireAt.
    const tokens = new TokenService({
      ...settings,
      accessTokenTtl: 3600,
      keys: [
        {
          kid: 'k1',
          alg: 'ES256',
          publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
          retireAt: at(100).toISOString(),
        },
      ],
    });
    assert.equal((await tokens.verify(token, at(50))).sub, 'alice');
    await assert.rejects(tokens.verify(token, at(150)), { reason: 'retired key' });
  });

  it('differs from a tampered copy by one character: the copy is verified, and refused', async () => {
    const tokens = new TokenService(settings);
    const { token } = await tokens.sign(claims, at(0));
    await tokens.verify(token, at(1));
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = signature.at(-2) === 'A' ? 'B' : 'A';
    const tamperedSignature = `${header}.${payload}.${signature.slice(0, -2)}${flipped}${signature.at(-1)}`;
    await assert.rejects(tokens.verify(tamperedSignature, at(1)), { code: 'bad_jwt' });
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory', iat: 0, exp: 9e9 })).toString(
      'base64url',
    );
    await assert.rejects(tokens.verify(`${header}.${forged}.${signature}`, at(1)), { code: 'bad_jwt' });
    // Another service (another secret) never sees this one's tokens as verified.
    const other = new TokenService({ ...settings, secret: 'another-secret-entirely-xxxx' });
    await assert.rejects(other.verify(token, at(1)), { reason: 'invalid signature' });
  });

  it('answers claims no caller can change for the next one', async () => {
    const tokens = new TokenService(settings);
    const { token } = await tokens.sign({ ...claims, app_metadata: { roles: ['reader'] } }, at(0));
    const first = await tokens.verify(token, at(1));
    assert.throws(() => {
      (first as { role: string }).role = 'service_role';
    }, TypeError);
    assert.throws(() => (first.app_metadata as { roles: string[] }).roles.push('admin'), TypeError);
    const second = await tokens.verify(token, at(2));
    assert.equal(second.role, 'authenticated');
    assert.deepEqual(second.app_metadata, { roles: ['reader'] });
  });
});

describe('VerifiedTokens', () => {
  const payload = () => ({ sub: 'a' });

  it('keeps at most its capacity, forgetting the oldest first', () => {
    const cache = new VerifiedTokens<string>(3);
    for (const token of ['t1', 't2', 't3', 't4']) cache.remember(token, 'k', payload());
    assert.equal(cache.size, 3);
    assert.equal(cache.get('t1'), undefined);
    assert.equal(cache.get('t4')?.key, 'k');
  });

  it('does not keep a token longer than its bound, but still freezes its claims', () => {
    const cache = new VerifiedTokens<string>(3, 10);
    const claims = cache.remember('x'.repeat(11), 'k', payload());
    assert.equal(cache.size, 0);
    assert.equal(Object.isFrozen(claims), true);
  });
});
