import { escapeHtml } from '../../lib/escape-html.js';
import { layout } from './layout.js';

export type ResultKind =
  'email_confirmed' | 'password_changed' | 'email_change_confirmed' | 'email_change_pending' | 'signed_in';

const RESULTS: Record<ResultKind, { title: string; text: string }> = {
  email_confirmed: { title: 'Your email address is confirmed', text: 'You can now sign in.' },
  password_changed: {
    title: 'Your password has been changed',
    text: 'You can now sign in with your new password. Every other session has been signed out.',
  },
  email_change_confirmed: {
    title: 'Your email address has been changed',
    text: 'Sign in with your new address from now on.',
  },
  email_change_pending: {
    title: 'One more step',
    text: 'This address is confirmed. Open the link sent to your other address to complete the change.',
  },
  signed_in: { title: 'You are signed in', text: 'You can close this page and return to the app.' },
};

/** What a spent link did. */
export function resultPage(options: { appName: string; kind: ResultKind; continueUrl?: string }): string {
  const result = RESULTS[options.kind];
  // Escaping keeps the URL inside its attribute, not a javascript: scheme out of it; the mail templates
  // drop such links the same way.
  const { continueUrl } = options;
  const link =
    continueUrl !== undefined && /^(https?:\/\/|\/(?!\/))/iu.test(continueUrl)
      ? `\n<p><a href="${escapeHtml(continueUrl)}">Continue to ${escapeHtml(options.appName)}</a></p>`
      : '';
  return layout(options.appName, result.title, `<p>${escapeHtml(result.text)}</p>${link}`);
}

/** A link that cannot be used: expired or spent already, or not a link restauth made. */
export function linkErrorPage(options: { appName: string; reason: 'expired_or_used' | 'invalid' }): string {
  return options.reason === 'expired_or_used'
    ? layout(
        options.appName,
        'This link has expired or was already used',
        '<p>Each link works once and for a limited time. Ask for a new one from the app.</p>',
      )
    : layout(
        options.appName,
        'This link is not valid',
        '<p>Check that you copied the whole address from the mail, or ask for a new link.</p>',
      );
}
