import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/core/ports/store.js';
import { mailNotifier } from '../../src/mail/mail-notifier.js';
import type { OutgoingMail } from '../../src/core/ports/outbox.js';
import {
  checkTemplateOverrides,
  DEFAULT_TEMPLATES,
  describeValidity,
  renderMail,
  renderTemplate,
  TEMPLATE_PLACEHOLDERS,
  type TemplateName,
} from '../../src/mail/templates.js';

const hostile = '<script>alert("x")</script> & \'quoted\'';

describe('mail templates', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-templates-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('every built-in mail renders text and HTML, signed with the app name, every value escaped in HTML', async () => {
    for (const name of Object.keys(DEFAULT_TEMPLATES) as TemplateName[]) {
      const values = Object.fromEntries(TEMPLATE_PLACEHOLDERS[name].map((key) => [key, `${key}:${hostile}`]));
      const mail = await renderMail(
        name,
        'to@example.com',
        { ...values, link: 'https://app.test/x?a=1&b=2' },
        null,
      );
      assert.equal(mail.to, 'to@example.com');
      assert.ok(mail.subject.length > 0 && !/[\r\n]/.test(mail.subject), name);
      assert.match(mail.text, new RegExp(`-appName:${escapeRegExp(hostile)} Team`), `${name} text signature`);
      assert.match(
        mail.html,
        /-appName:&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &#39;quoted&#39; Team/,
      );
      assert.doesNotMatch(mail.html, /<script>/, `${name} html escaped`);
      assert.doesNotMatch(mail.text + mail.html + mail.subject, /\{\{/, `${name}: no placeholder left`);
    }
  });

  it('welcome tells the username, like postgrest-auth\'s "Welcome!" mail', async () => {
    const mail = await renderMail(
      'welcome',
      'u@example.com',
      { appName: 'Theories', username: 'alice' },
      null,
    );
    assert.equal(mail.subject, 'Welcome!');
    assert.match(mail.text, /Your username is alice\./);
    assert.match(mail.html, /<strong>alice<\/strong>/);
    assert.match(mail.text, /-Theories Team\n$/);
  });

  it('a reset mail shows the link, the code or the token it was given, and the validity', async () => {
    const base = { appName: 'A', username: 'bob', validFor: '1 hour' };
    const tokenOnly = await renderMail('reset-password', 'b@example.com', { ...base, token: 'tok123' }, null);
    assert.match(tokenOnly.text, /Your token: tok123/);
    assert.doesNotMatch(tokenOnly.text, /Your code|Choose a new password/);
    assert.match(tokenOnly.text, /valid for 1 hour and works once/);
    const linkAndCode = await renderMail(
      'reset-password',
      'b@example.com',
      { ...base, link: 'https://a.test/reset?t=1&u=2', code: '123456' },
      null,
    );
    assert.match(linkAndCode.text, /Choose a new password: https:\/\/a\.test\/reset\?t=1&u=2/);
    assert.match(linkAndCode.text, /Your code: 123456/);
    assert.doesNotMatch(linkAndCode.text, /Your token/);
    assert.match(
      linkAndCode.html,
      /<a href="https:\/\/a\.test\/reset\?t=1&amp;u=2">Choose a new password<\/a>/,
    );
  });

  it('a link that is not http(s) never reaches the HTML', async () => {
    const mail = await renderMail(
      'magic-link',
      'm@example.com',
      { appName: 'A', link: 'javascript:alert(1)' },
      null,
    );
    assert.doesNotMatch(mail.html, /javascript:/);
  });

  it('the substitution: sections, escaping, and values never read as templates', () => {
    const values = { name: '{{secret}}', secret: 'S', empty: '', html: '<b>' };
    assert.equal(renderTemplate('Hi {{name}}', values), 'Hi {{secret}}');
    assert.equal(renderTemplate('{{#empty}}shown{{/empty}}{{^empty}}hidden{{/empty}}', values), 'hidden');
    assert.equal(renderTemplate('{{#secret}}[{{#html}}{{html}}{{/html}}]{{/secret}}', values), '[<b>]');
    assert.equal(renderTemplate('{{ unknown }} {{missing}}', values), '{{ unknown }} {{missing}}');
    assert.equal(
      renderTemplate('{{html}}', values, (v) => v.replace('<', '&lt;')),
      '&lt;b>',
    );
  });

  it('files in the templates folder replace the subject, text or HTML, with {{placeholders}}', async () => {
    const folder = await mkdtemp(join(dir, 'overrides-'));
    await writeFile(join(folder, 'welcome.subject'), 'Hi {{username}}\n');
    await writeFile(join(folder, 'welcome.html'), '<b>{{username}}</b> joined {{appName}}');
    await writeFile(join(folder, 'reset-password.txt'), 'Code {{code}} for {{username}}, -{{appName}}');
    const values = { appName: 'Theories', username: '<i>eve</i>\r\nBcc: x@y' };
    const welcome = await renderMail('welcome', 'u@example.com', values, folder);
    assert.equal(welcome.subject, 'Hi <i>eve</i> Bcc: x@y', 'a value cannot break the subject line');
    // In the body a value's controls show as escapes: a value cannot start lines of its own.
    assert.equal(welcome.html, '<b>&lt;i&gt;eve&lt;/i&gt;\\u000d\\u000aBcc: x@y</b> joined Theories');
    assert.match(welcome.text, /Welcome to Theories!/, 'no welcome.txt: the built-in text');
    const reset = await renderMail('reset-password', 'u@example.com', { ...values, code: '42' }, folder);
    assert.equal(reset.text, 'Code 42 for <i>eve</i>\\u000d\\u000aBcc: x@y, -Theories');
    assert.equal(
      reset.subject,
      'Reset your Theories password',
      'no reset-password.subject: the built-in one',
    );
  });

  it('checkTemplateOverrides names unknown files and placeholders', async () => {
    const folder = await mkdtemp(join(dir, 'check-'));
    await writeFile(join(folder, 'welcome.txt'), 'Hi {{username}} {{tokne}}');
    await writeFile(join(folder, 'reset-password.html'), '{{#link}}{{link}}{{/link}}');
    await writeFile(join(folder, 'welcom.subject'), 'x');
    assert.deepEqual(await checkTemplateOverrides(folder), [
      'welcom.subject: not a mail template name (see docs/mail.md)',
      'welcome.txt: unknown placeholder {{tokne}}',
    ]);
    assert.match((await checkTemplateOverrides(join(folder, 'nope')))[0]!, /ENOENT/);
  });

  it('describes validity in words', () => {
    assert.deepEqual(
      [3_600_000, 600_000, 86_400_000, 2 * 86_400_000, 90 * 60_000, 1000].map(describeValidity),
      ['1 hour', '10 minutes', '1 day', '2 days', '90 minutes', '1 minute'],
    );
  });
});

describe('mailNotifier', () => {
  it("renders each flow's mail; an email change goes to the old and the new address", async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const notifier = mailNotifier({ appName: 'Theories', templatesDir: null, clock: () => now });
    const user = { id: 'u1', username: 'carol', email: 'old@example.com' } as User & { email: string };
    const inAnHour = new Date(now.getTime() + 3_600_000);
    // Rendered only: the store queues each with its token.
    const queued: OutgoingMail[] = [
      ...(await notifier.passwordReset(user, { token: 'rt', expiresAt: inAnHour })),
      ...(await notifier.emailChangeToOld(user, 'new@example.com', {
        link: 'https://a.test/old',
        expiresAt: inAnHour,
      })),
      ...(await notifier.emailChangeToNew(user, 'new@example.com', {
        code: '654321',
        expiresAt: new Date(now.getTime() + 600_000),
      })),
      ...(await notifier.emailConfirmation(user, { link: 'https://a.test/confirm', expiresAt: inAnHour })),
      ...(await notifier.magicLink(user, { code: '111222', expiresAt: inAnHour })),
      ...(await notifier.usernameReminder({ ...user, username: 'carol' })),
    ];
    assert.deepEqual(
      queued.map((m) => m.to),
      [
        'old@example.com',
        'old@example.com',
        'new@example.com',
        'old@example.com',
        'old@example.com',
        'old@example.com',
      ],
    );
    assert.match(queued[0]!.text, /Your token: rt[\s\S]*valid for 1 hour/);
    assert.match(queued[1]!.text, /from old@example\.com to new@example\.com[\s\S]*https:\/\/a\.test\/old/);
    assert.match(queued[2]!.text, /new@example\.com is the new address[\s\S]*654321[\s\S]*10 minutes/);
    assert.match(queued[3]!.html, /href="https:\/\/a\.test\/confirm"/);
    assert.match(queued[4]!.text, /Your code: 111222/);
    assert.match(queued[5]!.text, /Your username at Theories is carol/);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
