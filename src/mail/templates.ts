import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MailMessage } from './mailer.js';

/**
 * The mails restauth sends, in text and HTML, signed "-<app name> Team" as
 * postgrest-auth signed them. Each can be replaced by files in the templates
 * folder: NAME.subject, NAME.txt and NAME.html, with {{placeholders}}
 * (HTML-escaped in .html). See docs/mail.md.
 */
export type TemplateName = 'welcome' | 'reset-password' | 'username-reminder';

const DEFAULTS: Record<TemplateName, { subject: string; text: string }> = {
  welcome: {
    subject: 'Welcome!',
    text: 'Welcome to {{appName}}!\n\nYour username is {{username}}.\n\n-{{appName}} Team',
  },
  'reset-password': {
    subject: 'Reset your {{appName}} password',
    text:
      'Someone asked to reset the password of {{username}}.\n\n' +
      'Your reset_token is: {{token}}\n\nIt can be used once, until {{expiresAt}}. ' +
      'If you did not ask for it, ignore this mail.\n\n-{{appName}} Team',
  },
  'username-reminder': {
    subject: 'Your {{appName}} username',
    text: 'Your username is {{username}}.\n\n-{{appName}} Team',
  },
};

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fill(template: string, values: Record<string, string>, escape: (v: string) => string): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (match, key: string) =>
    Object.hasOwn(values, key) ? escape(values[key]!) : match,
  );
}

async function readOverride(folder: string | null, file: string): Promise<string | null> {
  if (!folder) return null;
  try {
    return await readFile(join(folder, file), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export async function renderMail(
  name: TemplateName,
  to: string,
  values: Record<string, string>,
  folder: string | null,
): Promise<MailMessage> {
  const fallback = DEFAULTS[name];
  const subject = (await readOverride(folder, `${name}.subject`))?.trim() ?? fallback.subject;
  const text = (await readOverride(folder, `${name}.txt`)) ?? fallback.text;
  const html = await readOverride(folder, `${name}.html`);
  const plain = fill(text, values, (v) => v);
  return {
    to,
    subject: fill(subject, values, (v) => v.replace(/[\r\n]+/g, ' ')),
    text: plain,
    // Without an HTML template, the text itself, escaped, with its line breaks.
    html: html
      ? fill(html, values, escapeHtml)
      : `<p>${escapeHtml(plain).replace(/\n\n/g, '</p><p>').replace(/\n/g, '<br>')}</p>`,
  };
}
