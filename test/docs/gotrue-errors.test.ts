import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { AuthError, ERROR_CODES, type ErrorCode } from '../../src/core/errors.js';
import { gotrueErrorFormat } from '../../src/http/dialects/gotrue/errors.js';
import { useErrorReply } from '../../src/http/errors.js';

const MOUNT = '/auth/v1';
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * Registered codes no part behind the GoTrue dialect throws (core, its routes, the stores): the data
 * API's own refusals. Checked below against the sources, so a code that
 * starts being thrown there leaves this list and must be documented.
 */
const NOT_ANSWERED_BY_GOTRUE: readonly ErrorCode[] = ['method_not_allowed'];

/** Where an error the GoTrue dialect answers can be thrown. */
const GOTRUE_SOURCES = ['core', 'http/dialects/gotrue', 'http/errors.ts', 'stores', 'mail'];

/** The codes docs/supabase.md's Errors section names: its table's Code column and the paragraph after it. */
async function documentedCodes(): Promise<Set<string>> {
  const doc = await readFile(new URL('../../docs/supabase.md', import.meta.url), 'utf8');
  const start = doc.indexOf('\n## Errors');
  assert.ok(start >= 0, 'docs/supabase.md has an Errors section');
  const lines = doc.slice(start, doc.indexOf('\n## ', start + 1)).split('\n');
  const tableEnd = lines.findLastIndex((line) => line.startsWith('|'));
  const codes = new Set<string>();
  for (const [index, line] of lines.entries()) {
    // The outage and full-disk codes are in the paragraph after the table.
    const text = line.startsWith('|') ? (line.split('|')[3] ?? '') : index > tableEnd ? line : '';
    for (const match of text.matchAll(/`([a-z][a-z0-9_]+)`/gu)) codes.add(match[1]!);
  }
  assert.ok(codes.size > 30, 'the table was read');
  return codes;
}

async function sourceFiles(path: string): Promise<string[]> {
  const full = join(SRC, path);
  if (full.endsWith('.ts')) return [full];
  const entries = await readdir(full, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/**
 * Every code the GoTrue dialect can answer is in docs/supabase.md's error table, and every code the
 * table names is one the dialect answers: each registered error is thrown from a route behind the
 * dialect's real error handler (on a plain route, and on the two routes GoTrue words its own way)
 * and its wire code read from the answer.
 */
describe('docs/supabase.md lists every error code the GoTrue dialect answers', () => {
  let app: FastifyInstance;

  before(async () => {
    app = Fastify();
    await app.register(
      (scope, _options, done) => {
        useErrorReply(scope, gotrueErrorFormat(MOUNT));
        const handler = (request: { query: unknown }) => {
          throw new AuthError((request.query as { code: ErrorCode }).code);
        };
        scope.post('/probe', handler);
        scope.post('/signup', handler);
        scope.post('/token', handler);
        done();
      },
      { prefix: MOUNT },
    );
  });
  after(() => app.close());

  /** The codes GoTrue's wire carries for restauth's `code`, on each probed route. */
  async function wireCodes(code: ErrorCode): Promise<string[]> {
    const codes = new Set<string>();
    for (const url of ['/probe?', '/signup?', '/token?grant_type=refresh_token&']) {
      const answer = await app.inject({ method: 'POST', url: `${MOUNT}${url}code=${code}` });
      const body = answer.json<{ error_code?: unknown }>();
      assert.equal(typeof body.error_code, 'string', `${code} on ${url}: ${answer.body}`);
      codes.add(body.error_code as string);
    }
    return [...codes];
  }

  it('documents each code an error behind the dialect is answered with', async () => {
    const documented = await documentedCodes();
    const missing: string[] = [];
    for (const code of ERROR_CODES.filter((c) => !NOT_ANSWERED_BY_GOTRUE.includes(c))) {
      for (const wire of await wireCodes(code))
        if (!documented.has(wire)) missing.push(code === wire ? wire : `${wire} (${code})`);
    }
    assert.deepEqual(missing, [], 'answered by the GoTrue dialect, not in docs/supabase.md');
  });

  it('names no code the dialect never answers', async () => {
    const answered = new Set<string>(['bad_json']); // a body field of the wrong type (Go's decoding error)
    for (const code of ERROR_CODES.filter((c) => !NOT_ANSWERED_BY_GOTRUE.includes(c)))
      for (const wire of await wireCodes(code)) answered.add(wire);
    const unknown = [...(await documentedCodes())].filter((code) => !answered.has(code));
    assert.deepEqual(unknown, [], 'in docs/supabase.md, never answered');
  });

  it('throws none of the codes left out behind the dialect', async () => {
    const files = (await Promise.all(GOTRUE_SOURCES.map(sourceFiles))).flat();
    assert.ok(files.length > 50, 'the sources were read');
    const thrown: string[] = [];
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      for (const code of NOT_ANSWERED_BY_GOTRUE)
        if (text.includes(`'${code}'`)) thrown.push(`${code} in ${file.slice(SRC.length)}`);
    }
    assert.deepEqual(thrown, []);
  });
});
