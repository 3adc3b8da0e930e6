import type { User } from './store.js';

/**
 * What the auth domain tells users by mail. The domain decides *when* a
 * message goes out (and that an unknown account gets none, while the caller
 * gets the same answer); src/mail decides how it looks and how it travels.
 * Implementations must not throw for delivery problems: they queue and retry.
 */
export interface Notifier {
  welcome(user: User & { email: string }): Promise<void>;
  passwordReset(user: User & { email: string }, reset: { token: string; expiresAt: Date }): Promise<void>;
  usernameReminder(user: User & { email: string; username: string }): Promise<void>;
}

/** For deployments without mail: the use cases still run, nothing is sent. */
export const silentNotifier: Notifier = {
  welcome: async () => {},
  passwordReset: async () => {},
  usernameReminder: async () => {},
};
