import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp } from '../support/app.js';

/**
 * A db.json nested thousands of levels deep (made by hand or by another
 * program: restauth's own writes nest at most 32 levels, lib/json-depth.ts).
 * JSON.parse took it, and then every walk of the record ran out of stack: a
 * read of it answered 500, its writes 500, and the rewrite at a stop failed
 * with RangeError. Such a file now stops the start as a damaged one does,
 * naming the file and the bound, and is left as it is for a person to repair.
 */
describe('a db.json nested deeper than restauth walks', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('stops the start naming the file and the bound, and leaves the file as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-deep-'));
    dirs.push(dir);
    const depth = 20_000;
    const damaged = `{"users":[],"posts":[{"id":1,"deep":${'['.repeat(depth)}${']'.repeat(depth)}}]}`;
    await writeFile(join(dir, 'db.json'), damaged);

    await assert.rejects(createTestApp({ format: 'json-data-server', config: {}, dir }), (error: Error) => {
      assert.equal((error as NodeJS.ErrnoException).code, 'EDAMAGED', String(error));
      assert.match(error.message, /db\.json nests arrays and objects more than 1000 levels deep/u);
      return true;
    });
    assert.equal(await readFile(join(dir, 'db.json'), 'utf8'), damaged);
  });

  it('starts on one nested as deep as the bound', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-deep-'));
    dirs.push(dir);
    // The document and the posts array are two levels, the record a third.
    const depth = 1000 - 3;
    await writeFile(
      join(dir, 'db.json'),
      `{"users":[],"posts":[{"id":1,"deep":${'['.repeat(depth)}${']'.repeat(depth)}}]}`,
    );
    const app = await createTestApp({ format: 'json-data-server', config: {}, dir });
    await app.close();
  });
});
