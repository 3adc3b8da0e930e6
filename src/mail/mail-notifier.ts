import type { Notifier } from '../core/notifier.js';
import type { User } from '../core/store.js';
import type { MailQueue } from './outbox-queue.js';
import { describeValidity, renderMail, type TemplateName, type TemplateValues } from './templates.js';

type Recipient = User & { email: string };

/**
 * What a one-time mail carries: a link to follow, a code to type, and/or a
 * token to paste (postgrest-auth's reset_token), whichever the flow uses; the
 * mail shows only those given.
 */
export interface OneTimeSecret {
  link?: string;
  code?: string;
  token?: string;
  expiresAt: Date;
}

/**
 * The core's Notifier, plus the mails of the confirmation, email-change and
 * sign-in flows (for the Notifier to grow into): each renders its template
 * (src/mail/templates.ts) and queues the mail durably.
 */
export interface MailNotifier extends Notifier {
  passwordReset(user: Recipient, reset: OneTimeSecret): Promise<void>;
  emailConfirmation(user: Recipient, confirmation: OneTimeSecret): Promise<void>;
  /** Both addresses confirm a change: one mail to the current address, one to the new one. */
  emailChange(
    user: Recipient,
    change: { newEmail: string; toOld: OneTimeSecret; toNew: OneTimeSecret },
  ): Promise<void>;
  magicLink(user: Recipient, signIn: OneTimeSecret): Promise<void>;
}

export function mailNotifier(
  queue: MailQueue,
  settings: { appName: string; templatesDir: string | null; clock?: () => Date },
): MailNotifier {
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
      await send('email-change-old', user.email, {
        ...person(user),
        newEmail: change.newEmail,
        ...secret(change.toOld),
      });
      await send('email-change-new', change.newEmail, {
        ...person(user),
        email: change.newEmail,
        oldEmail: user.email,
        ...secret(change.toNew),
      });
    },
    magicLink: (user, signIn) => send('magic-link', user.email, { ...person(user), ...secret(signIn) }),
  };
}
