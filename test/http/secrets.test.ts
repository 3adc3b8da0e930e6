import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { createServices } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { resolveJwtSecret } from '../../src/config/secret.js';
import { buildApp } from '../../src/http/app.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * Secrets nobody chose sign nothing an attacker can use: a generated
 * development secret does not open the admin API, and once asymmetric keys
 * are configured, a development secret left in .restauth/ verifies nothing.
 * Started as `restauth serve` starts: load, resolve the secret, compose.
 */

const quiet = { info() {}, warn() {} };

async function start(dir: string, env: NodeJS.ProcessEnv = {}) {
  const loaded = await loadConfig({ cwd: dir, env: { RESTAUTH_RATE_LIMITS: 'off', ...env }, warn() {} });
  const config = await resolveJwtSecret(loaded, quiet);
  const services = await createServices(config, quiet);
  const app = await buildApp(services);
  after(async () => {
    await app.close();
    await services.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { app, services };
}

/** A fresh folder; `start` removes it once the app is closed. */
async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'restauth-secrets-'));
}

const adminUsers = (app: FastifyInstance, token: string) =>
  app.inject({ method: 'GET', url: '/auth/v1/admin/users', headers: { authorization: `Bearer ${token}` } });

describe('the admin API', () => {
  it('is not served while the secret is a generated development one', async () => {
    const dir = await tempDir();
    const { app, services } = await start(dir);
    assert.equal(services.config.jwt.generatedSecret, true);
    // Whoever can read .restauth/jwt-secret (a backup, a shared folder) could mint this token.
    assert.equal((await adminUsers(app, await serviceTokenOf({ services }))).statusCode, 404);
    const signUp = await app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'dev@example.test', password: 'a passphrase' },
    });
    assert.equal(signUp.statusCode, 200, 'the rest of GoTrue works as before');
  });

  it('is served once a secret is configured', async () => {
    const dir = await tempDir();
    const { app, services } = await start(dir, {
      RESTAUTH_JWT_SECRET: 'a-configured-secret-0123456789abcdef',
    });
    assert.equal((await adminUsers(app, await serviceTokenOf({ services }))).statusCode, 200);
  });
});

describe('with jwt.keys configured', () => {
  it('a development secret left from earlier runs verifies no token', async () => {
    const dir = await tempDir();
    const stale = 'a-development-secret-generated-before-keys-were-set';
    await mkdir(join(dir, '.restauth'), { recursive: true });
    await writeFile(join(dir, '.restauth', 'jwt-secret'), `${stale}\n`, { mode: 0o600 });
    const { privateKey } = generateKeyPairSync('ed25519');
    const key = { kid: 'k1', alg: 'EdDSA', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) };
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ jwt: { keys: [key] } }));
    const { app, services } = await start(dir);

    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ role: 'service_role', iat: now, exp: now + 600 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(stale));
    assert.equal((await adminUsers(app, forged)).statusCode, 403);

    // The configured key still signs and verifies.
    assert.equal((await adminUsers(app, await serviceTokenOf({ services }))).statusCode, 200);
  });
});
