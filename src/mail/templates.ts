import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_TEMPLATES,
  TEMPLATE_PLACEHOLDERS,
  type Template,
  type TemplateName,
} from './default-templates.js';
import { escapeHtml } from '../lib/escape-html.js';
import { showHiddenCharacters } from '../lib/hidden-characters.js';
import type { OutgoingMail } from '../core/ports/outbox.js';
import { ifMissing } from '../lib/if-missing.js';

export { DEFAULT_TEMPLATES, TEMPLATE_PLACEHOLDERS, type TemplateName } from './default-templates.js';

/**
 * Values for a mail's placeholders. A missing, null or empty value renders
 * as nothing, and hides its {{#name}}...{{/name}} sections.
 */
export type TemplateValues = Readonly<Record<string, string | null | undefined>>;

const FILE_PARTS = { subject: 'subject', text: 'txt', html: 'html' } as const;
const SECTION = /\{\{([#^])(\w+)\}\}([\s\S]*?)\{\{\/\2\}\}/g;
const PLACEHOLDER = /\{\{\s*(\w+)\s*\}\}/g;

function present(values: TemplateValues, key: string): boolean {
  const value = Object.hasOwn(values, key) ? values[key] : undefined;
  return typeof value === 'string' && value !== '';
}

/**
 * The whole template language: {{name}} is replaced by a value (through
 * `escape`), {{#name}}...{{/name}} is kept only when the value is not empty,
 * {{^name}}...{{/name}} only when it is. A value is inserted once and never
 * read again as a template, so values cannot inject placeholders or sections;
 * there are no expressions, loops or file includes. An unknown placeholder is
 * left as written, so a typo shows in the mail (and in checkTemplateOverrides).
 */
export function renderTemplate(
  template: string,
  values: TemplateValues,
  escape: (value: string, key: string) => string = (value) => value,
): string {
  let expanded = template;
  // Sections first, inner ones included (each pass resolves one level).
  for (let previous = ''; previous !== expanded;) {
    previous = expanded;
    expanded = expanded.replace(SECTION, (_match, kind: string, key: string, body: string) =>
      present(values, key) === (kind === '#') ? body : '',
    );
  }
  return expanded.replace(PLACEHOLDER, (match, key: string) => {
    if (!Object.hasOwn(values, key)) return match;
    const value = values[key];
    return typeof value === 'string' ? escape(value, key) : '';
  });
}

/** In HTML, values are escaped, and a link must be http(s): never javascript: or data:. */
function escapeHtmlValue(value: string, key: string): string {
  if (key === 'link' && !/^https?:\/\//i.test(value)) return '';
  return escapeHtml(value);
}

/** A subject is one header line: no line breaks from a template or a value. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').trim();
}

async function readOverride(folder: string, file: string): Promise<string | null> {
  return readFile(join(folder, file), 'utf8').catch(ifMissing(null));
}

/** The template of a mail: each part from the folder's file when there is one, else the built-in one. */
async function loadTemplate(name: TemplateName, folder: string | null): Promise<Template> {
  const builtIn = DEFAULT_TEMPLATES[name];
  if (!folder) return builtIn;
  const [subject, text, html] = await Promise.all(
    (['subject', 'text', 'html'] as const).map((part) => readOverride(folder, `${name}.${FILE_PARTS[part]}`)),
  );
  return { subject: subject ?? builtIn.subject, text: text ?? builtIn.text, html: html ?? builtIn.html };
}

/**
 * Renders one mail. `folder` is the config's mailTemplatesDir (null: the
 * built-in mails); `appName` should be among the values (it signs the mail).
 * Files are read on each mail, so an edited template takes effect at once.
 */
export async function renderMail(
  name: TemplateName,
  to: string,
  values: TemplateValues,
  folder: string | null,
): Promise<OutgoingMail> {
  const template = await loadTemplate(name, folder);
  // Each value's controls and invisible characters (U+202E, C1 ...) written as escapes: a user name
  // stored before they were refused must not show as another name, nor a value start lines of its own.
  const shown = showHiddenCharacters;
  return {
    to,
    subject: oneLine(renderTemplate(oneLine(template.subject), values, (value) => shown(oneLine(value)))),
    text: renderTemplate(template.text, values, shown),
    html: renderTemplate(template.html, values, (value, key) => escapeHtmlValue(shown(value), key)),
  };
}

/**
 * Problems with a templates folder, for a start-up check: files that name no
 * mail, and placeholders a mail does not know. Empty when all is well.
 */
export async function checkTemplateOverrides(folder: string): Promise<string[]> {
  let files: string[];
  try {
    files = await readdir(folder);
  } catch (error) {
    return [`mail templates folder ${folder}: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  for (const file of files.sort()) {
    const match = /^([\w-]+)\.(subject|txt|html)$/.exec(file);
    const name = match?.[1] as TemplateName | undefined;
    if (!name || !Object.hasOwn(TEMPLATE_PLACEHOLDERS, name)) {
      if (!file.startsWith('.')) problems.push(`${file}: not a mail template name (see docs/mail.md)`);
      continue;
    }
    const known = TEMPLATE_PLACEHOLDERS[name];
    const text = await readFile(join(folder, file), 'utf8');
    const used = [...text.matchAll(/\{\{\s*[#^/]?\s*(\w+)\s*\}\}/g)].map((m) => m[1]!);
    for (const key of new Set(used)) {
      if (!known.includes(key)) problems.push(`${file}: unknown placeholder {{${key}}}`);
    }
  }
  return problems;
}

/** "1 hour", "10 minutes", "2 days": how long a link or code lasts, for the mail's text. */
export function describeValidity(ms: number): string {
  const minutes = Math.max(1, Math.round(ms / 60_000));
  const [amount, unit] =
    minutes % 1440 === 0
      ? [minutes / 1440, 'day']
      : minutes % 60 === 0
        ? [minutes / 60, 'hour']
        : [minutes, 'minute'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}
