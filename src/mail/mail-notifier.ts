import type { Notifier } from '../core/notifier.js';
import type { MailWorker } from './mail-worker.js';
import { renderMail } from './templates.js';

/** The auth domain's Notifier, by mail: renders a template and queues it durably. */
export function mailNotifier(
  worker: MailWorker,
  settings: { appName: string; templatesDir: string | null },
): Notifier {
  const base = { appName: settings.appName };
  return {
    welcome: async (user) => {
      const values = { ...base, username: user.username ?? user.email, email: user.email };
      await worker.submit(await renderMail('welcome', user.email, values, settings.templatesDir));
    },
    passwordReset: async (user, reset) => {
      const values = {
        ...base,
        username: user.username ?? user.email,
        email: user.email,
        token: reset.token,
        expiresAt: reset.expiresAt.toISOString(),
      };
      await worker.submit(await renderMail('reset-password', user.email, values, settings.templatesDir));
    },
    usernameReminder: async (user) => {
      const values = { ...base, username: user.username, email: user.email };
      await worker.submit(await renderMail('username-reminder', user.email, values, settings.templatesDir));
    },
  };
}
