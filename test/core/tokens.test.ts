import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { TokenService } from '../../src/core/tokens.js';
import { at, TOKEN_SETTINGS as settings, USER_CLAIMS as claims } from '../support/token-fixtures.js';

describe('TokenService', () => {
  const tokens = new TokenService(settings);

  it('signs HS256 tokens carrying sub, role, session_id, token_version, iat and exp', async () => {
    const { token } = await tokens.sign(claims, at(0));
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
    const verified = await tokens.verify(token, at(10));
    assert.equal(verified.sub, 'alice');
    assert.equal(verified.role, 'authenticated');
    assert.equal(verified.session_id, 's1');
    assert.equal(verified.token_version, 0);
    assert.equal(verified.exp - verified.iat, 60);
  });

  it("signs HS256 byte for byte as jose's SignJWT, kid, issuer, audience and extra claims included", async () => {
    const service = new TokenService({
      ...settings,
      secretKeyId: 'hs-1',
      issuer: 'https://auth.example.test',
      audience: 'authenticated',
    });
    const extra = { ...claims, email: 'ünïcode@example.com', amr: [{ method: 'password', timestamp: 1 }] };
    const signed = await service.sign(extra, at(0));
    const { token, ...payload } = signed;
    const expected = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: 'hs-1' })
      .sign(new TextEncoder().encode(settings.secret));
    assert.equal(token, expected);
    const roleToken = await service.signRoleToken('service_role', 60, at(0));
    const rolePayload = JSON.parse(Buffer.from(roleToken.split('.')[1]!, 'base64url').toString());
    assert.equal(
      roleToken,
      await new SignJWT(rolePayload)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: 'hs-1' })
        .sign(new TextEncoder().encode(settings.secret)),
    );
  });

  it('reports an expired token as "jwt expired", honouring the clock tolerance', async () => {
    const { token } = await tokens.sign(claims, at(0));
    await tokens.verify(token, at(61)); // inside the 2 s tolerance
    await assert.rejects(tokens.verify(token, at(63)), { code: 'token_expired', reason: 'jwt expired' });
  });

  it('refuses another key, a tampered payload, alg none, a token not yet valid and garbage', async () => {
    const other = await new TokenService({ ...settings, secret: 'another-secret-entirely-xxxx' }).sign(
      claims,
      at(0),
    );
    await assert.rejects(tokens.verify(other.token, at(1)), { reason: 'invalid signature' });

    const { token } = await tokens.sign(claims, at(0));
    const [h, , s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory', iat: 0, exp: 9e9 })).toString(
      'base64url',
    );
    await assert.rejects(tokens.verify(`${h}.${forged}.${s}`, at(1)), { code: 'bad_jwt' });

    const none = new UnsecuredJWT({ ...claims }).setIssuedAt().setExpirationTime('1h').encode();
    await assert.rejects(tokens.verify(none, new Date()), { code: 'bad_jwt' });

    const key = new TextEncoder().encode(settings.secret);
    const future = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setNotBefore('1h')
      .setExpirationTime('2h')
      .sign(key);
    await assert.rejects(tokens.verify(future, new Date()), { reason: 'jwt not active' });

    const hs512 = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'HS512' })
      .setExpirationTime('1h')
      .sign(key);
    await assert.rejects(tokens.verify(hs512, new Date()), { code: 'bad_jwt' });

    await assert.rejects(tokens.verify('not.a.jwt', new Date()), { reason: 'jwt malformed' });
  });

  it('refuses a validly signed token without restauth claims', async () => {
    const key = new TextEncoder().encode(settings.secret);
    const bare = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(key);
    await assert.rejects(tokens.verify(bare, new Date()), { reason: 'jwt malformed' });
  });

  it('checks issuer and audience when configured', async () => {
    const strict = new TokenService({ ...settings, issuer: 'https://a.example', audience: 'api' });
    const good = await strict.sign(claims, new Date());
    await strict.verify(good.token, new Date());
    const plain = await tokens.sign(claims, new Date());
    await assert.rejects(strict.verify(plain.token, new Date()), { code: 'bad_jwt' });
  });
});
