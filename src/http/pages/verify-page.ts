import { escapeHtml } from '../../lib/escape-html.js';
import { layout } from './layout.js';

export type VerifyPageType = 'signup' | 'invite' | 'magiclink' | 'recovery' | 'email_change' | 'email';

export interface VerifyPageOptions {
  appName: string;
  /** Where the form posts: the link's own path and query, so the token travels with it. */
  action: string;
  type: VerifyPageType;
  /**
   * Extra values the POST carries in its body. The token stays in `action`'s
   * query, so the POST is checked exactly like the GET was.
   */
  hiddenFields?: Readonly<Record<string, string>>;
  /** With a recovery link: ask for the new password here (default), else the app's own page does. */
  collectPassword?: boolean;
  minPasswordLength: number;
  /** Shown above the form, announced to screen readers. */
  error?: string;
}

const TEXTS: Record<VerifyPageType, { title: (app: string) => string; lead: string; button: string }> = {
  signup: {
    title: () => 'Confirm your email address',
    lead: 'Press the button to confirm it.',
    button: 'Confirm my email',
  },
  email: {
    title: () => 'Confirm your email address',
    lead: 'Press the button to confirm it.',
    button: 'Confirm my email',
  },
  invite: {
    title: (app) => `Join ${app}`,
    lead: 'Press the button to accept the invitation.',
    button: 'Accept',
  },
  magiclink: { title: (app) => `Sign in to ${app}`, lead: 'Press the button to sign in.', button: 'Sign in' },
  recovery: { title: () => 'Reset your password', lead: 'Press the button to continue.', button: 'Continue' },
  email_change: {
    title: () => 'Confirm your new email address',
    lead: 'Press the button to confirm the change.',
    button: 'Confirm email change',
  },
};

/**
 * The page a mailed link opens. Opening it changes nothing (mail scanners
 * fetch links); the button's POST spends the link.
 */
export function verifyPage(options: VerifyPageOptions): string {
  const action = escapeHtml(options.action);
  const hidden = Object.entries(options.hiddenFields ?? {})
    .map(([name, value]) => `\n<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
  const alert = options.error
    ? `<p class="alert" role="alert" id="form-error">${escapeHtml(options.error)}</p>\n`
    : '';
  if (options.type === 'recovery' && (options.collectPassword ?? true)) {
    const invalid = options.error ? ' aria-invalid="true" aria-describedby="form-error"' : '';
    const field = (id: string, label: string) =>
      `<label for="${id}">${label}</label>\n<input id="${id}" name="${id}" type="password" autocomplete="new-password" required minlength="${options.minPasswordLength}"${invalid}>`;
    return layout(
      options.appName,
      'Set a new password',
      `${alert}<form method="post" action="${action}">${hidden}
${field('password', 'New password')}
${field('password_confirm', 'Repeat the new password')}
<button type="submit">Set new password</button>
</form>`,
    );
  }
  const text = TEXTS[options.type];
  return layout(
    options.appName,
    text.title(options.appName),
    `${alert}<p>${escapeHtml(text.lead)}</p>
<form method="post" action="${action}">${hidden}
<button type="submit">${escapeHtml(text.button)}</button>
</form>`,
  );
}
