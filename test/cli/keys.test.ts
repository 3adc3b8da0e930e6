import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { TokenService } from '../../src/core/tokens.js';
import { generateKey } from '../../src/cli/keys.js';

describe('restauth keys generate', () => {
  for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
    it(`${alg}: the printed config entry signs, the printed JWKS verifies`, async () => {
      const { configEntry, jwks } = await generateKey(alg, 'kid-1');
      const tokens = new TokenService({
        secret: null,
        keys: [configEntry],
        accessTokenTtl: 60,
        clockTolerance: 0,
        issuer: null,
        audience: null,
      });
      const claims = { sub: 'u', role: 'authenticated', session_id: 's', token_version: 0 };
      const { token } = await tokens.sign(claims, new Date());
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks));
      assert.equal(payload.sub, 'u');
      assert.equal(protectedHeader.kid, 'kid-1');
      assert.equal(JSON.stringify(jwks).includes('"d"'), false);
    });
  }
});
