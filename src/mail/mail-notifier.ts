import type { Notifier, OneTimeSecret } from '../core/notifier.js';
import { mailedName } from './mailed-name.js';
import { describeValidity, renderMail, type TemplateName, type TemplateValues } from './templates.js';

/**
 * The core's Notifier on restauth's templates: each mail is rendered for the
 * store to keep with its token (or, the welcome mail, its account), which the
 * mail worker sends from there.
 */
export function mailNotifier(settings: {
  appName: string;
  templatesDir: string | null;
  clock?: () => Date;
}): Notifier {
  const now = () => (settings.clock ? settings.clock() : new Date()).getTime();
  const person = (user: { username: string | null; email: string }): TemplateValues => ({
    appName: settings.appName,
    username: mailedName(user),
    email: user.email,
  });
  const secret = (value: OneTimeSecret): TemplateValues => ({
    link: value.link,
    code: value.code,
    token: value.token,
    expiresAt: value.expiresAt.toISOString(),
    validFor: describeValidity(value.expiresAt.getTime() - now()),
  });
  const render = async (name: TemplateName, to: string, values: TemplateValues) => [
    await renderMail(name, to, values, settings.templatesDir),
  ];

  return {
    welcomeMail: (user) => render('welcome', user.email, person(user)),
    usernameReminder: (user) => render('username-reminder', user.email, person(user)),
    passwordReset: (user, reset) =>
      render('reset-password', user.email, { ...person(user), ...secret(reset) }),
    emailConfirmation: (user, confirmation) =>
      render('confirm-email', user.email, { ...person(user), ...secret(confirmation) }),
    emailChangeToOld: (user, newEmail, toOld) =>
      render('email-change-old', user.email, { ...person(user), newEmail, ...secret(toOld) }),
    emailChangeToNew: (user, newEmail, toNew) =>
      render('email-change-new', newEmail, {
        ...person({ ...user, email: newEmail }),
        oldEmail: user.email ?? '',
        ...secret(toNew),
      }),
    magicLink: (user, signIn) => render('magic-link', user.email, { ...person(user), ...secret(signIn) }),
    invitation: (user, invite) => render('invite', user.email, { ...person(user), ...secret(invite) }),
    reauthentication: (user, nonce) =>
      render('reauthentication', user.email, { ...person(user), ...secret(nonce) }),
  };
}
