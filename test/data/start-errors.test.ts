import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { runCli } from '../support/run-cli.js';

/**
 * A db.json json-server refuses stops restauth's start too, with one line
 * naming the file and the problem, never a stack trace.
 */
const require = createRequire(import.meta.url);
const jsonServer = require('json-server') as { router(file: string): unknown };
const ENV = { RESTAUTH_PORT: '0', RESTAUTH_JWT_SECRET: 'start-errors-secret-0123456789abcdef0123' };

describe('a db.json that cannot be served stops the start', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('a top-level key with "/" (json-server: "Oops, found / character"): one line, exit 1', async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-datakey-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify({ posts: [], 'a/b': [{ id: 1 }], users: [] }));
    assert.throws(
      () => jsonServer.router(join(dir!, 'db.json')),
      /found \/ character in database property 'a\/b'/,
    );
    const { code, stdout, stderr } = await runCli(dir, ['db.json'], ENV);
    assert.equal(code, 1, stdout + stderr);
    assert.doesNotMatch(stdout, /listening/);
    assert.match(stderr, /db\.json: "a\/b" cannot be served: a top-level key may not contain "\/"/);
    assert.doesNotMatch(stderr, /^\s+at /mu);
  });

  it('a top-level number, string or null (json-server: "is not supported"): one line, exit 1', async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-datavalue-'));
    const db = { $schema: './schema.json', posts: [], count: 5, title: 'x', nothing: null, users: [] };
    await writeFile(join(dir, 'db.json'), JSON.stringify(db));
    assert.throws(
      () => jsonServer.router(join(dir!, 'db.json')),
      /Type of "count" \(number\)\s+is not supported/,
    );
    const { code, stdout, stderr } = await runCli(dir, ['db.json'], ENV);
    assert.equal(code, 1, stdout + stderr);
    assert.match(
      stderr,
      /"count" is a number: a top-level value must be an array \(a collection\) or an object/,
    );
    assert.match(stderr, /"title" is a string/);
    assert.match(stderr, /"nothing" is null/);
    assert.doesNotMatch(stderr, /schema/);
    assert.doesNotMatch(stderr, /^\s+at /mu);
  });

  it('invalid JSON: the file, line and column, without a stack', async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-badjson-'));
    await writeFile(join(dir, 'db.json'), '{\n  "posts": [\n    { "id": 1, }\n  ]\n}\n');
    const { code, stdout, stderr } = await runCli(dir, ['db.json'], ENV);
    assert.equal(code, 1, stdout + stderr);
    assert.match(stderr, /db\.json is not valid JSON at line 3, column 16/);
    assert.doesNotMatch(stderr, /^\s+at /mu);
  });
});
