import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { OutboxMailer } from '../../src/mail/mailer.js';

describe('OutboxMailer (the development outbox)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-outbox-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a parseable .eml and a .json per mail, owner-only, and logs where', async () => {
    const outbox = join(dir, 'outbox');
    const logged: string[] = [];
    const mailer = new OutboxMailer(
      outbox,
      { info: (m) => logged.push(m), warn: () => {} },
      'dev@restauth.test',
    );
    const message = { to: 'dev@example.com', subject: 'Outbox é', text: 'look: 123456', html: '<p>look</p>' };
    await mailer.send(message);
    await mailer.send({ ...message, to: 'second@example.com' });
    const files = (await readdir(outbox)).sort();
    assert.equal(files.length, 4);
    const emls = files.filter((f) => f.endsWith('.eml'));
    assert.equal(emls.length, 2);

    const raw = await readFile(join(outbox, emls[0]!));
    assert.match(raw.toString('latin1'), /^[\s\S]*\r\n\r\n/, 'CRLF line ends, headers then body');
    const parsed = await simpleParser(raw);
    assert.equal(parsed.subject, 'Outbox é');
    assert.equal(parsed.text?.trim(), 'look: 123456');
    assert.match(String(parsed.html), /<p>look<\/p>/);
    assert.equal(parsed.from?.value[0]?.address, 'dev@restauth.test');
    assert.ok(parsed.messageId);

    const json = JSON.parse(await readFile(join(outbox, emls[0]!.replace(/\.eml$/, '.json')), 'utf8'));
    assert.deepEqual(
      [json.to, json.subject, json.text, json.html, json.from, json.messageId],
      [message.to, message.subject, message.text, message.html, 'dev@restauth.test', parsed.messageId],
    );
    assert.equal((await stat(join(outbox, emls[0]!))).mode & 0o777, 0o600);
    assert.equal((await stat(outbox)).mode & 0o777, 0o700);

    assert.equal(logged.length, 2);
    assert.equal(
      logged[0],
      `mail to dev@example.com: Outbox é (development outbox: ${join(outbox, emls[0]!)})`,
    );
  });
});
