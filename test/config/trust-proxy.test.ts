import assert from 'node:assert/strict';
import { test } from 'node:test';
import { load, tempDir, writeJson } from '../support/config.js';

const SECRET = { RESTAUTH_JWT_SECRET: 'a-private-secret-for-these-tests-0123456789' };

test('trustProxy: false by default, a hop count or addresses from the file or RESTAUTH_TRUST_PROXY', async () => {
  const dir = await tempDir();
  assert.equal((await load(dir, { env: SECRET })).config.trustProxy, false);
  await writeJson(dir, 'restauth.json', { trustProxy: ['10.0.0.0/8', '::1', 'loopback'] });
  assert.deepEqual((await load(dir, { env: SECRET })).config.trustProxy, ['10.0.0.0/8', '::1', 'loopback']);
  const fromEnv = async (value: string) =>
    (await load(dir, { env: { ...SECRET, RESTAUTH_TRUST_PROXY: value } })).config.trustProxy;
  assert.equal(await fromEnv('2'), 2);
  assert.deepEqual(await fromEnv('192.168.1.10, 10.0.0.0/255.0.0.0'), ['192.168.1.10', '10.0.0.0/255.0.0.0']);
  assert.equal(await fromEnv('false'), false);
  await assert.rejects(fromEnv('0'), /RESTAUTH_TRUST_PROXY must be a number of proxies \(1 or more\)/);
});

test('a proxy that is no address, and `true` (every hop, so the client picks), are refused naming the key', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'restauth.json', { trustProxy: ['10.0.0.1', 'nginx.local'] });
  await assert.rejects(
    load(dir, { env: SECRET }),
    /^ConfigError: restauth\.json: trustProxy\[1\] must be an IP address, a CIDR range/,
  );
  await writeJson(dir, 'restauth.json', { trustProxy: ['10.0.0.0/33'] });
  await assert.rejects(load(dir, { env: SECRET }), /trustProxy\[0\] must be an IP address/);
  await writeJson(dir, 'restauth.json', { trustProxy: true });
  await assert.rejects(load(dir, { env: SECRET }), /trustProxy must be false, a number of proxies/);
});

test('the deprecated rateLimits.trustedProxyHeader is read as one proxy in front, with a warning', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'restauth.json', { rateLimits: { trustedProxyHeader: 'X-Real-IP' } });
  const { config, warnings } = await load(dir, { env: SECRET });
  assert.equal(config.trustProxy, 1);
  assert.deepEqual(warnings, [
    'restauth.json: rateLimits.trustedProxyHeader is deprecated and read as "trustProxy": 1 (one proxy in front, its X-Forwarded-For entry is the client); set trustProxy to the number or addresses of your proxies instead',
    'restauth.json: the client address is read from X-Forwarded-For only; X-Real-IP is not read',
  ]);
  await writeJson(dir, 'restauth.json', {
    trustProxy: ['10.0.0.1'],
    rateLimits: { trustedProxyHeader: 'x-forwarded-for' },
  });
  const both = await load(dir, { env: SECRET });
  assert.deepEqual(both.config.trustProxy, ['10.0.0.1']);
  assert.deepEqual(both.warnings, [
    'restauth.json: rateLimits.trustedProxyHeader is deprecated and ignored: trustProxy is set',
  ]);
});
