import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadKey } from '../../src/core/signing-keys.js';
import { FileDatabase } from '../../src/stores/file/file-database.js';
import { spawnRestauth } from '../support/process.js';
import { cliTempDir, runCli } from '../support/run-cli.js';

const SECRET = 'damaged-file-secret-0123456789';
const ENV = { RESTAUTH_PORT: '0', RESTAUTH_JWT_SECRET: 'damaged-file-secrets-0123456789abcdef01' };

/**
 * restauth's files hold secrets (a record's token, the mail queue's links, a journal's changes), and a
 * hand edit can leave one unquoted. V8's JSON.parse message quotes up to ten characters either side
 * of the unexpected token (`Unexpected token 'a', ..."apiToken":damaged-fi"...`), and restauth put
 * that message in what it prints when it refuses such a file: on the terminal and in the log. The
 * file, its line and column are named; no text of the file is. So for `restauth doctor`'s check of
 * the store files, and for a jwt key given as a JWK that does not parse.
 */
describe('a damaged file is named without the text around the damage', () => {
  it('db.json: the start stops naming the line and column, without the token beside it', async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'db.json'), `{\n  "notes": [{ "id": 1, "apiToken": ${SECRET} }]\n}\n`);
    const { code, stdout, stderr } = await runCli(dir, ['db.json'], ENV);
    assert.equal(code, 1, stdout + stderr);
    assert.match(stderr, /db\.json is not valid JSON at line 2, column 36/u);
    assert.doesNotMatch(stdout + stderr, /damaged-fi/u);
  });

  it("the mail queue: the start stops naming it, without the mailed link's token", async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'db.json'), '{"users": []}');
    await mkdir(join(dir, '.restauth'));
    await writeFile(
      join(dir, '.restauth', 'mail-queue.json'),
      `{"version": 1, "mails": [{"id": "m1", "message": {"to": "a@b.test", "text": ${SECRET}}}]}`,
    );
    const started = await spawnRestauth(dir, [], ENV).catch((error: Error) => error);
    if (!(started instanceof Error)) {
      await started.stop();
      assert.fail('restauth started on a damaged mail queue');
    }
    assert.match(started.message, /mail queue .*mail-queue\.json is not valid JSON/u);
    assert.doesNotMatch(started.message, /damaged-fi/u);
  });

  it("a journal line: the error names the line, and neither it nor its cause quotes the line's text", async () => {
    const dir = await cliTempDir();
    const files = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
    await writeFile(files.dataFile, '{"notes": []}');
    const put = JSON.stringify({ op: 'put', collection: 'notes', key: 'id', record: { id: 1 } });
    await writeFile(
      join(dir, '.db.json.journal'),
      `${put}\n{"op":"put","record":{"token":${SECRET}}}\n${put}\n`,
    );
    const error = await FileDatabase.open(files).then(
      (db) => db.close().then(() => assert.fail('opened a damaged journal')),
      (refused: Error) => refused,
    );
    assert.match(error.message, /\.db\.json\.journal line 2 is not valid JSON/u);
    // pino's err serializer writes a cause's message after the error's own.
    const causes = [error.message, (error.cause as Error | undefined)?.message ?? ''].join('\n');
    assert.doesNotMatch(causes, /damaged-fi/u);
  });

  it('restauth doctor names a damaged credentials.json without the hash or token beside the damage', async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'db.json'), '{"users": []}');
    await writeFile(join(dir, 'credentials.json'), `{"passwords": [{"userId": "u1", "hash": ${SECRET}}]}`);
    const { stdout, stderr } = await runCli(dir, ['doctor'], ENV);
    assert.match(stdout, /store file: .*credentials\.json: Unexpected token 'd' in JSON/u);
    assert.doesNotMatch(stdout + stderr, /damaged-fi/u);
  });

  it('a jwt key given as a JWK that is not JSON is named by its kid, not quoted', () => {
    const privateKey = `{"kty": "OKP", "crv": "Ed25519", "d": ${SECRET}}`;
    const error = (() => {
      try {
        loadKey({ kid: 'k1', alg: 'EdDSA', privateKey });
      } catch (refused) {
        return refused as Error;
      }
      return assert.fail('loaded a key that is not JSON');
    })();
    assert.match(error.message, /^jwt key "k1" Unexpected token 'd' in JSON$/u);
    assert.equal(error.cause, undefined);
  });
});
