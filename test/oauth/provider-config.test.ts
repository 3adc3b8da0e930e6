import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { configuredProviders, ProviderConfigError } from '../../src/core/oauth/registry.js';
import { createTestApp } from '../support/app.js';

/**
 * external.<provider> as restauth.json states it: an enabled name that is neither a preset nor
 * given an issuer, or an enabled provider without a client id, stops the start naming the key;
 * a disabled one is not there; several client ids (a list, or GoTrue's comma-separated string)
 * are all kept, the first signs in.
 */
const CALLBACK = 'https://auth.example.com/auth/v1/callback';

describe('OAuth provider configuration', () => {
  it('reads GoTrue-named settings into ProviderSettings; disabled providers are left out', () => {
    const providers = configuredProviders(
      {
        Corp: { enabled: true, client_id: 'web, ios', secret: 's', issuer: 'https://login.corp.test/' },
        keycloak: { enabled: false, client_id: 'x' },
      },
      CALLBACK,
    );
    assert.deepEqual([...providers.keys()], ['corp']);
    const corp = providers.get('corp')!;
    assert.deepEqual(corp.settings.clientIds, ['web', 'ios']);
    assert.equal(corp.settings.redirectUri, CALLBACK);
    assert.equal(corp.definition.flavour, 'oidc');
    assert.equal(
      corp.definition.flavour === 'oidc' && corp.definition.issuer(corp.settings),
      'https://login.corp.test',
    );
  });

  it('refuses a name it cannot make a provider of, and a provider without a client id', () => {
    assert.throws(
      () => configuredProviders({ myidp: { enabled: true, client_id: 'x' } }, CALLBACK),
      (error: unknown) =>
        error instanceof ProviderConfigError &&
        /external\.myidp: no provider of that name/u.test(error.message),
    );
    assert.throws(
      () => configuredProviders({ keycloak: { enabled: true, url: 'https://sso.test/realms/a' } }, CALLBACK),
      /external\.keycloak\.client_id is needed/u,
    );
  });

  it('stops the server start with a ConfigError naming the key', async () => {
    await assert.rejects(
      createTestApp({
        format: 'restauth',
        config: { external: { myidp: { enabled: true, client_id: 'x' } } },
      }),
      (error: unknown) => error instanceof ConfigError && error.message.startsWith('external.myidp'),
    );
  });

  it("GET /authorize of a provider that is not enabled answers GoTrue's refusal", async () => {
    const t = await createTestApp({ format: 'restauth', config: {} });
    try {
      const response = await t.app.inject({ method: 'GET', url: '/auth/v1/authorize?provider=keycloak' });
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().msg, 'Unsupported provider: provider is not enabled');
    } finally {
      await t.close();
    }
  });

  it('refuses a provider reached over plain http at start, naming the key; loopback addresses may use http', () => {
    for (const [key, config] of [
      ['issuer', { issuer: 'http://sso.corp.test/realms/a' }],
      ['url', { url: 'http://gitlab.corp.test' }],
      ['api_url', { url: 'https://gitlab.corp.test', api_url: 'http://10.0.0.7:8080' }],
    ] as const) {
      const name = key === 'issuer' ? 'corp' : 'gitlab';
      assert.throws(
        () => configuredProviders({ [name]: { enabled: true, client_id: 'x', ...config } }, CALLBACK),
        (error: unknown) =>
          error instanceof ProviderConfigError &&
          error.message.startsWith(`external.${name}.${key} is plain http`) &&
          /Use https/u.test(error.message),
        key,
      );
    }
    assert.throws(
      () =>
        configuredProviders({ corp: { enabled: true, client_id: 'x', issuer: 'ftp://sso.test' } }, CALLBACK),
      /external\.corp\.issuer: ftp:\/\/sso\.test is not an https URL/u,
    );
    for (const issuer of [
      'http://127.0.0.1:8080/realms/a',
      'http://localhost:8080',
      'http://[::1]:8080',
      'http://[::ffff:127.0.0.1]:8080',
    ]) {
      const providers = configuredProviders({ corp: { enabled: true, client_id: 'x', issuer } }, CALLBACK);
      assert.equal(providers.size, 1, issuer);
    }
  });

  it('development mode starts with an http provider and warns once, naming the key', async () => {
    const warnings: string[] = [];
    const logger = { info: () => {}, warn: (message: string) => warnings.push(message) };
    const external = {
      keycloak: { enabled: true, client_id: 'x', secret: 's', url: 'http://keycloak.internal:8080/realms/a' },
    };
    await assert.rejects(
      createTestApp({ format: 'restauth', config: { external }, logger }),
      (error: unknown) =>
        error instanceof ConfigError && error.message.startsWith('external.keycloak.url is plain http'),
    );
    assert.equal(warnings.length, 0);
    const t = await createTestApp({ format: 'restauth', config: { external, development: true }, logger });
    try {
      const warned = warnings.filter((line) => line.includes('external.keycloak.url is plain http'));
      assert.equal(warned.length, 1, warnings.join('\n'));
      assert.match(warned[0]!, /allowed in development mode only/u);
    } finally {
      await t.close();
    }
  });
});
