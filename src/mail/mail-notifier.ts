import type { Notifier, OneTimeSecret, Recipient } from '../core/notifier.js';
import type { MailQueue } from './outbox-queue.js';
import { describeValidity, renderMail, type TemplateName, type TemplateValues } from './templates.js';

export function mailNotifier(
  queue: MailQueue,
  settings: { appName: string; templatesDir: string | null; clock?: () => Date },
): Notifier {
  const now = () => (settings.clock ? settings.clock() : new Date()).getTime();
  const person = (user: Recipient): TemplateValues => ({
    appName: settings.appName,
    username: user.username ?? user.email,
    email: user.email,
  });
  const secret = (value: OneTimeSecret): TemplateValues => ({
    link: value.link,
    code: value.code,
    token: value.token,
    expiresAt: value.expiresAt.toISOString(),
    validFor: describeValidity(value.expiresAt.getTime() - now()),
  });
  const send = async (name: TemplateName, to: string, values: TemplateValues) =>
    queue.enqueue(await renderMail(name, to, values, settings.templatesDir));

  return {
    welcome: (user) => send('welcome', user.email, person(user)),
    passwordReset: (user, reset) => send('reset-password', user.email, { ...person(user), ...secret(reset) }),
    usernameReminder: (user) => send('username-reminder', user.email, person(user)),
    emailConfirmation: (user, confirmation) =>
      send('confirm-email', user.email, { ...person(user), ...secret(confirmation) }),
    emailChange: async (user, change) => {
      const named = { ...person({ ...user, email: user.email ?? change.newEmail }) };
      if (change.toOld && user.email !== null) {
        await send('email-change-old', user.email, {
          ...named,
          newEmail: change.newEmail,
          ...secret(change.toOld),
        });
      }
      await send('email-change-new', change.newEmail, {
        ...named,
        email: change.newEmail,
        oldEmail: user.email ?? '',
        ...secret(change.toNew),
      });
    },
    magicLink: (user, signIn) => send('magic-link', user.email, { ...person(user), ...secret(signIn) }),
  };
}
