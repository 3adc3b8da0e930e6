import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { createLogger, DeferredChildLogger } from '../../src/http/logging.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { lineSink } from '../support/log-lines.js';

/** A pino logger at `level` writing JSON lines into `lines`. */
function jsonLogger(level: string, lines: Array<Record<string, unknown>>): Logger {
  const stream = lineSink((line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  return pino({ level, timestamp: false, base: null }, stream);
}

/**
 * request.log is built when something logs through it (DeferredChildLogger): a request that logs
 * nothing builds no pino child, one that logs writes what pino's child would have.
 */
describe('request loggers', () => {
  it('write what pino’s child writes, and build it only for a level the parent writes', () => {
    const direct: Array<Record<string, unknown>> = [];
    const deferred: Array<Record<string, unknown>> = [];
    const parent = jsonLogger('info', deferred);
    let children = 0;
    const child = parent.child.bind(parent);
    parent.child = ((...args: Parameters<Logger['child']>) => {
      children++;
      return child(...args);
    }) as Logger['child'];
    const log = new DeferredChildLogger(parent, { reqId: 'req-1' }, {});
    assert.equal(log.level, 'info');
    log.debug('not written');
    log.trace({ a: 1 }, 'nor this');
    assert.equal(children, 0, 'a level the parent does not write builds nothing');
    log.info({ route: '/posts' }, 'written');
    log.error(new Error('boom'), 'failed');
    log.debug('still not written');
    assert.equal(children, 1, 'built once');
    const reference = jsonLogger('info', direct).child({ reqId: 'req-1' });
    reference.info({ route: '/posts' }, 'written');
    reference.error(new Error('boom'), 'failed');
    const withoutStack = (line: Record<string, unknown>) => ({ ...line, err: undefined });
    assert.deepEqual(deferred.map(withoutStack), direct.map(withoutStack));
    assert.equal(deferred[0]!['reqId'], 'req-1');
  });

  it('follow their own level (a route’s logLevel) and a level set on them', () => {
    const lines: Array<Record<string, unknown>> = [];
    const parent = jsonLogger('warn', lines);
    new DeferredChildLogger(parent, { reqId: 'a' }, { level: 'debug' }).debug('own level');
    const raised = new DeferredChildLogger(parent, { reqId: 'b' }, {});
    raised.level = 'trace';
    assert.equal(raised.level, 'trace');
    raised.trace('set level');
    new DeferredChildLogger(parent, { reqId: 'c' }, {}).info('below warn');
    assert.deepEqual(
      lines.map((line) => [line['reqId'], line['msg']]),
      [
        ['a', 'own level'],
        ['b', 'set level'],
      ],
    );
  });

  describe('over HTTP', () => {
    let t: TestApp;
    const lines: string[] = [];
    let children = 0;
    before(async () => {
      const log = createLogger(
        { level: 'info', format: 'json' },
        lineSink((line) => lines.push(line)),
      );
      const child = log.child.bind(log);
      log.child = ((...args: Parameters<Logger['child']>) => {
        children++;
        return child(...args);
      }) as Logger['child'];
      t = await createTestApp({
        format: 'restauth',
        config: { dialects: { jsonDataServer: {} }, data: { rules: { posts: 664 } } },
        files: { 'db.json': JSON.stringify({ users: [], posts: [{ id: 1, title: 'one' }] }) },
        log,
      });
    });
    after(async () => t.close());

    it('a data-API read, with or without a token, builds no child logger; its line names its request', async () => {
      const registered = await t.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { username: 'reader', password: 'reader-password-1' },
      });
      const token = (registered.json() as { access_token: string }).access_token;
      const before = children;
      lines.length = 0;
      for (const headers of [{}, { authorization: `Bearer ${token}` }]) {
        const read = await t.app.inject({ method: 'GET', url: '/posts/1', headers });
        assert.equal(read.statusCode, 200);
      }
      assert.equal(children, before, 'no request built a child logger');
      const reads = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(
        reads.map((line) => [line['path'], line['status']]),
        [
          ['/posts/1', 200],
          ['/posts/1', 200],
        ],
      );
      assert.notEqual(reads[0]!['reqId'], reads[1]!['reqId']);
    });
  });
});
