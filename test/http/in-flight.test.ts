import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { RequestsInFlight } from '../../src/http/in-flight.js';

/**
 * RequestsInFlight counts a request until its handler is over, whatever its client did: a close waits for
 * a handler whose client hung up (Fastify's own close waits for connections only), up to its bound.
 */
describe('requests in flight', () => {
  const apps: FastifyInstance[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });

  /** An app whose GET /held answers when the test says, and whose GET /hung never answers. */
  const start = async () => {
    const app = Fastify();
    apps.push(app);
    const inFlight = new RequestsInFlight();
    inFlight.track(app);
    let entered!: () => void;
    const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    app.get('/held', async () => {
      entered();
      await answered;
      return { ok: true };
    });
    app.get('/hung', () => {
      entered();
      return new Promise(() => {});
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { app, inFlight, url, handlerEntered, answer };
  };

  /** Sends GET `path` and hangs up once its handler runs. */
  const hangUpDuring = async (url: string, path: string, handlerEntered: Promise<void>) => {
    const request = httpRequest(`${url}${path}`, { agent: false });
    const closed = new Promise<void>((resolve) => request.on('close', resolve));
    request.on('error', () => {});
    request.end();
    await handlerEntered;
    request.destroy();
    await closed;
  };

  it('waits for a handler whose client hung up, until it is over', async () => {
    const { inFlight, url, handlerEntered, answer } = await start();
    await hangUpDuring(url, '/held', handlerEntered);
    assert.equal(inFlight.count, 1);
    let settled = false;
    const left = inFlight.settled(60_000).then((count) => {
      settled = true;
      return count;
    });
    // Several turns of the event loop, with I/O between: still waiting for the handler.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    answer();
    assert.equal(await left, 0);
    assert.equal(inFlight.count, 0);
  });

  it('gives up on a hung handler after its bound, and says how many are left', async () => {
    const { inFlight, url, handlerEntered } = await start();
    await hangUpDuring(url, '/hung', handlerEntered);
    assert.equal(await inFlight.settled(20), 1);
  });

  it('counts answered requests out, connected or injected', async () => {
    const { app, inFlight, url, answer } = await start();
    answer();
    assert.equal((await fetch(`${url}/held`)).status, 200);
    assert.equal((await app.inject('/held')).statusCode, 200);
    assert.equal((await app.inject('/nowhere')).statusCode, 404);
    assert.equal(inFlight.count, 0);
    assert.equal(await inFlight.settled(60_000), 0);
  });
});
