import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

// The PostgreSQL side (an outage: 503) is in test/postgres/connection-faults.test.ts.
describe('liveness and readiness on the file store', () => {
  let app: TestApp;
  before(async () => {
    app = await createTestApp({ format: 'restauth' });
  });
  after(async () => app.close());

  it('/health answers 200 while the process serves', async () => {
    const reply = await app.app.inject({ method: 'GET', url: '/health' });
    assert.equal(reply.statusCode, 200);
    assert.deepEqual(reply.json(), { status: 'ok' });
  });

  it('/ready answers 200 when the data folder is writable, and GoTrue /health agrees', async () => {
    const reply = await app.app.inject({ method: 'GET', url: '/ready' });
    assert.equal(reply.statusCode, 200, reply.body);
    assert.deepEqual(reply.json(), { status: 'ready', checks: { dataFolder: 'ok' } });
    const gotrue = await app.app.inject({ method: 'GET', url: '/auth/v1/health' });
    assert.equal(gotrue.statusCode, 200, gotrue.body);
    assert.equal(gotrue.json().name, 'restauth');
  });
});
