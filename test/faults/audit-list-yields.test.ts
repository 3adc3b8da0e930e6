import assert from 'node:assert/strict';
import { createServer, get } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { auditLineText } from '../../src/stores/file/audit-file.js';
import { AuditIndex } from '../../src/stores/file/audit-index.js';

/**
 * Indexing a big audit file (the first page of the admin audit list) must let other requests run:
 * parsing 100,000 lines at once held the event loop for about half a second, every request waiting.
 * Here a request is sent to a listening server as the index parses its first line, and must be
 * answered before the index is done: with the file read and parsed in one go it is answered after.
 */
describe('indexing a big audit file', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('answers a request that arrives while the file is parsed, before the index is done', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-yields-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.audit.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      lines.push(
        auditLineText({
          id: `event-${i}`,
          at: new Date(Date.UTC(2026, 0, 1) + i * 1000),
          action: 'login',
          actorId: null,
          userId: `user-${i % 100}`,
          ip: '192.0.2.1',
          data: {},
        }),
      );
    }
    await writeFile(path, lines.join(''), { mode: 0o600 });

    const server = createServer((_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    const order: string[] = [];
    let answered: Promise<void> | null = null;
    const index = new AuditIndex(path, (line) => {
      answered ??= new Promise<void>((resolve, reject) => {
        get({ host: '127.0.0.1', port, path: '/' }, (response) => {
          response.resume();
          response.on('end', () => {
            order.push('request answered');
            resolve();
          });
        }).on('error', reject);
      });
      const { at, userId } = JSON.parse(line) as { at: string; userId: string | null };
      return { at: Date.parse(at), userId };
    });
    const { newestFirst } = await index.current();
    order.push('index done');
    await answered;

    assert.equal(newestFirst.length, 100_000);
    assert.deepEqual(order, ['request answered', 'index done']);
  });
});
