import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../src/core/errors.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const REGISTRY = join(SRC, 'core', 'errors.ts');

/**
 * A registered code that no source names is a promise nothing keeps: the docs' error tables are
 * checked against the registry, so a dead code would be documented as an answer no client can get
 * (not_supported and email_address_not_authorized were such codes).
 */
describe('error code registry', () => {
  it('holds only codes some part of restauth answers with', async () => {
    const entries = await readdir(SRC, { recursive: true, withFileTypes: true });
    const sources = entries
      .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
      .map((entry) => join(entry.parentPath, entry.name))
      .filter((file) => file !== REGISTRY);
    assert.ok(sources.length > 100, 'the sources were read');
    const text = (await Promise.all(sources.map((file) => readFile(file, 'utf8')))).join('\n');
    const unused = ERROR_CODES.filter(
      (code) => !text.includes(`'${code}'`) && !text.includes(`"${code}"`) && !text.includes(`.${code}`),
    );
    assert.deepEqual(unused, [], 'registered in src/core/errors.ts, named nowhere else');
  });
});
