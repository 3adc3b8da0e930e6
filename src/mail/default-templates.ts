/**
 * The built-in mails, written in the same {{placeholder}} language an
 * override file uses (docs/mail.md), so each is also an example. Every mail
 * is signed "-<app name> Team", as postgrest-auth signed its mails.
 */

export type TemplateName =
  | 'welcome'
  | 'reset-password'
  | 'username-reminder'
  | 'confirm-email'
  | 'email-change-old'
  | 'email-change-new'
  | 'magic-link'
  | 'invite'
  | 'reauthentication';

export interface Template {
  subject: string;
  text: string;
  html: string;
}

/** Placeholders every mail knows. */
const COMMON = ['appName', 'username', 'email'] as const;
/** Placeholders of a mail that carries a one-time link, code or token. */
const ONE_TIME = ['link', 'code', 'token', 'expiresAt', 'validFor'] as const;

/** The placeholders each mail knows (docs/mail.md lists them with their meaning). */
export const TEMPLATE_PLACEHOLDERS: Record<TemplateName, readonly string[]> = {
  welcome: [...COMMON],
  'reset-password': [...COMMON, ...ONE_TIME],
  'username-reminder': [...COMMON],
  'confirm-email': [...COMMON, ...ONE_TIME],
  'email-change-old': [...COMMON, 'newEmail', ...ONE_TIME],
  'email-change-new': [...COMMON, 'oldEmail', ...ONE_TIME],
  'magic-link': [...COMMON, ...ONE_TIME],
  invite: [...COMMON, ...ONE_TIME],
  reauthentication: [...COMMON, ...ONE_TIME],
};

const SIGNATURE_TEXT = '\n\n-{{appName}} Team\n';
const SIGNATURE_HTML = '<p>-{{appName}} Team</p>';

/** A page of HTML around the body, small enough for every mail client. */
function page(body: string): string {
  return (
    '<!doctype html>\n<html><head><meta charset="utf-8"><title>{{appName}}</title></head>\n' +
    '<body style="font-family: sans-serif; line-height: 1.5; max-width: 36em">\n' +
    body +
    '\n' +
    SIGNATURE_HTML +
    '\n</body></html>\n'
  );
}

/** The link, the code and the token, whichever the mail carries, then how long they last. */
const ONE_TIME_TEXT =
  '{{#link}}\n\n{{linkLabel}}: {{link}}{{/link}}' +
  '{{#code}}\n\nYour code: {{code}}{{/code}}' +
  '{{#token}}\n\nYour token: {{token}}{{/token}}' +
  '{{#validFor}}\n\nIt is valid for {{validFor}} and works once.{{/validFor}}';
const ONE_TIME_HTML =
  '{{#link}}<p><a href="{{link}}">{{linkLabel}}</a></p>' +
  '<p>If the link does not open, copy this address into your browser: {{link}}</p>{{/link}}' +
  '{{#code}}<p>Your code: <strong style="font-size: 1.4em; letter-spacing: 0.1em">{{code}}</strong></p>{{/code}}' +
  '{{#token}}<p>Your token: <code>{{token}}</code></p>{{/token}}' +
  '{{#validFor}}<p>It is valid for {{validFor}} and works once.</p>{{/validFor}}';

function oneTime(label: string): { text: string; html: string } {
  return {
    text: ONE_TIME_TEXT.replaceAll('{{linkLabel}}', label),
    html: ONE_TIME_HTML.replaceAll('{{linkLabel}}', label),
  };
}

const reset = oneTime('Choose a new password');
const confirm = oneTime('Confirm your address');
const change = oneTime('Confirm the change');
const signIn = oneTime('Sign in');
const accept = oneTime('Accept the invitation');
const nonce = oneTime('Confirm');

export const DEFAULT_TEMPLATES: Record<TemplateName, Template> = {
  welcome: {
    subject: 'Welcome!',
    text: 'Welcome to {{appName}}!\n\nYour username is {{username}}.' + SIGNATURE_TEXT,
    html: page('<p>Welcome to {{appName}}!</p>\n<p>Your username is <strong>{{username}}</strong>.</p>'),
  },
  'reset-password': {
    subject: 'Reset your {{appName}} password',
    text:
      'Someone asked to reset the password of {{username}} at {{appName}}.' +
      reset.text +
      '\n\nIf it was not you, ignore this mail: your password stays as it is.' +
      SIGNATURE_TEXT,
    html: page(
      '<p>Someone asked to reset the password of <strong>{{username}}</strong> at {{appName}}.</p>\n' +
        reset.html +
        '\n<p>If it was not you, ignore this mail: your password stays as it is.</p>',
    ),
  },
  'username-reminder': {
    subject: 'Your {{appName}} username',
    text: 'Your username at {{appName}} is {{username}}.' + SIGNATURE_TEXT,
    html: page('<p>Your username at {{appName}} is <strong>{{username}}</strong>.</p>'),
  },
  'confirm-email': {
    subject: 'Confirm your email address for {{appName}}',
    text:
      'Please confirm that {{email}} is your address at {{appName}}.' +
      confirm.text +
      '\n\nIf you did not sign up, ignore this mail.' +
      SIGNATURE_TEXT,
    html: page(
      '<p>Please confirm that {{email}} is your address at {{appName}}.</p>\n' +
        confirm.html +
        '\n<p>If you did not sign up, ignore this mail.</p>',
    ),
  },
  'email-change-old': {
    subject: 'Your {{appName}} email address is being changed',
    text:
      'Someone asked to change the address of {{username}} at {{appName}} from {{email}} to {{newEmail}}.' +
      change.text +
      '\n\nIf it was not you, do not confirm, and change your password.' +
      SIGNATURE_TEXT,
    html: page(
      '<p>Someone asked to change the address of <strong>{{username}}</strong> at {{appName}} ' +
        'from {{email}} to {{newEmail}}.</p>\n' +
        change.html +
        '\n<p>If it was not you, do not confirm, and change your password.</p>',
    ),
  },
  'email-change-new': {
    subject: 'Confirm your new email address for {{appName}}',
    text:
      'Please confirm that {{email}} is the new address of {{username}} at {{appName}} (until now {{oldEmail}}).' +
      change.text +
      '\n\nIf you did not ask for this, ignore this mail.' +
      SIGNATURE_TEXT,
    html: page(
      '<p>Please confirm that {{email}} is the new address of <strong>{{username}}</strong> at {{appName}} ' +
        '(until now {{oldEmail}}).</p>\n' +
        change.html +
        '\n<p>If you did not ask for this, ignore this mail.</p>',
    ),
  },
  'magic-link': {
    subject: 'Your {{appName}} sign-in',
    text:
      'Here is your sign-in to {{appName}}.' +
      signIn.text +
      '\n\nIf you did not ask for it, ignore this mail.' +
      SIGNATURE_TEXT,
    html: page(
      '<p>Here is your sign-in to {{appName}}.</p>\n' +
        signIn.html +
        '\n<p>If you did not ask for it, ignore this mail.</p>',
    ),
  },
  invite: {
    subject: 'You are invited to {{appName}}',
    text:
      'You have been invited to create an account at {{appName}} with {{email}}.' +
      accept.text +
      '\n\nIf you do not know {{appName}}, ignore this mail.' +
      SIGNATURE_TEXT,
    html: page(
      '<p>You have been invited to create an account at {{appName}} with {{email}}.</p>\n' +
        accept.html +
        '\n<p>If you do not know {{appName}}, ignore this mail.</p>',
    ),
  },
  reauthentication: {
    subject: 'Confirm it is you at {{appName}}',
    text:
      'Enter this code to confirm a change to the account of {{username}} at {{appName}}.' +
      nonce.text +
      '\n\nIf you did not ask for it, someone may be signed in as you: change your password.' +
      SIGNATURE_TEXT,
    html: page(
      '<p>Enter this code to confirm a change to the account of <strong>{{username}}</strong> at {{appName}}.</p>\n' +
        nonce.html +
        '\n<p>If you did not ask for it, someone may be signed in as you: change your password.</p>',
    ),
  },
};
